"""The pipeline's stages: one module each, pure functions under thin Prefect task shells.

Importing any stage sizes the native thread pools for this workload first
(:mod:`sareeflow.native`).
"""

from sareeflow.native import limit_native_threads

limit_native_threads()
