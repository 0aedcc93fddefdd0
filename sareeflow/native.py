"""Native thread pools sized for this workload: one thread each for BLAS and OpenCV.

Measured on this project's 2-core machine (``make bench``'s pure stages on a 12 MP upload,
DESIGN §12): OpenBLAS's default pool made the light-field regression of flatten take 2.1 s
instead of 0.34 s (its threads spin against each other and against the second pose thread on
small 20000x25 products; a lone ``d.T @ d`` took 7-40 ms instead of 1.5 ms), and the stages
together took 8.1 s instead of 5.3 s with BLAS and OpenCV each held to one thread. The
parallelism that pays is Prefect's: poses composed in separate threads.
"""

from __future__ import annotations

import cv2
from threadpoolctl import threadpool_limits

NATIVE_THREADS = 1
"""Threads per BLAS / OpenCV call (see the module docstring for the measurement)."""

_applied = False


def limit_native_threads() -> None:
    """Hold BLAS and OpenCV to ``NATIVE_THREADS`` for this process (idempotent)."""
    global _applied
    if _applied:
        return
    threadpool_limits(limits=NATIVE_THREADS, user_api="blas")
    cv2.setNumThreads(NATIVE_THREADS)
    _applied = True
