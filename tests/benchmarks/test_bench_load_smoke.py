"""`make bench-load` as a smoke run: a real stack, 20 clients, 2 s a phase. It must run through
and report every phase with its baseline ratio. It asserts no time (these machines are noisy):
the figures are read by people in docs/reliability.md. It does assert that nothing failed:
under load every request still gets its 200."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

PHASES = ("healthz (baseline)", "job status (running jobs)", "gallery")


def test_load_benchmark_smoke_run_reports_every_phase(tmp_path, run_benchmark):
    done = run_benchmark("bench_load", "--smoke", timeout_s=600)
    results = json.loads((tmp_path / "results.json").read_text())
    phases = {phase["name"]: phase for phase in results["phases"]}
    assert tuple(phases) == PHASES
    for phase in phases.values():
        assert phase["requests"] > 0, phase
        assert phase["errors"] == 0, phase["error_kinds"]
        assert phase["p50_ms"] <= phase["p99_ms"] <= phase["max_ms"]
    assert results["clients"] == 20
    assert "x baseline" in done.stdout  # the ratios are printed
