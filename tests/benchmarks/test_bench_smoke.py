"""`make bench` in CI as a smoke run on a small image: it must run through and report every
figure of DESIGN §12. It asserts no time (these machines are noisy); the figures are read by
people in docs/performance.md."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

DESIGN_FIGURES = (
    "standard job via API (4 poses)",
    "extend job via API (8 poses)",
    "start latency (accepted -> flow running)",
    "stage: pure stages total",
    "everything but pure stages, per task run",
    "validation per pose",
    "validation baseline (skimage SSIM + dE2000)",
    "peak memory of a job",
)


def test_benchmark_smoke_run_reports_every_design_figure(tmp_path, run_benchmark):
    done = run_benchmark("bench", "--smoke", timeout_s=900)
    results = json.loads((tmp_path / "results.json").read_text())
    figures = {figure["name"]: figure for figure in results["figures"]}
    for name in DESIGN_FIGURES:
        assert name in figures, f"missing figure {name}"
        assert figures[name]["samples"], f"no samples for {name}"
    assert "faster than skimage" in figures["validation per pose"]["ratio"]
    assert (tmp_path / "profile.html").stat().st_size > 0
    for name in DESIGN_FIGURES:  # every figure is printed as a row of the table
        assert any(line.startswith(name) for line in done.stdout.splitlines()), name
    # The whole-job profile sampled the flow run's process on the stack, stages included.
    profile = (tmp_path / "job-profile.txt").read_text()
    assert "isolate_task" in profile and "validate_attempt" in profile
    assert "by part of the job" in done.stdout
