"""The benchmarks' smoke runs: each runs its benchmark as ``make`` would, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

STDERR_SHOWN = 3000
"""Characters of a failed run's stderr put in the test's failure message."""


@pytest.fixture
def run_benchmark(tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """``run_benchmark(module, *args, timeout_s=...)`` runs ``python -m benchmarks.<module>
    *args --out tmp_path``, fails the test with the tail of stderr unless it exits 0, and
    returns the finished process (its stdout is the printed table)."""

    def run(module: str, *args: str, timeout_s: float) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{module}", *args, "--out", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        assert done.returncode == 0, done.stderr[-STDERR_SHOWN:]
        return done

    return run
