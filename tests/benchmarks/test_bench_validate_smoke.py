"""`make bench-validate` in CI as a smoke run on a small corpus (``--quick``): it must run
through and report a row for every defect type and level, the false alarms of faithful and
every benign variant, and the time per pose against the scikit-image baseline. It asserts no
rate and no time: a handful of sarees says little, and these machines are noisy."""

from __future__ import annotations

import json

import pytest

from sareeflow.benign import BENIGN
from sareeflow.defects import DEFECTS, LEVELS

pytestmark = pytest.mark.slow


def test_quick_run_reports_every_defect_benign_change_and_the_baseline(tmp_path, run_benchmark):
    done = run_benchmark("bench_validate", "--quick", timeout_s=1800)
    lines = done.stdout.splitlines()
    evaluation = lines[next(i for i, line in enumerate(lines) if line.startswith("EVALUATION")) :]
    for name in DEFECTS:
        for level in LEVELS[name]:
            assert any(line.split()[:2] == [name, level.name] for line in evaluation), (
                f"no evaluation row for {name} ({level.name})"
            )
    for name in ("faithful", *BENIGN):
        assert any(line.split()[:1] == [name] for line in evaluation), f"no row for {name}"
    assert any(line.startswith("baseline ratio: validate_output is") for line in lines)

    results = json.loads((tmp_path / "validate.json").read_text())
    rows = {(row["name"], row["level"]) for row in results["evaluation"]["defects"]}
    assert rows == {(name, level.name) for name in DEFECTS for level in LEVELS[name]}
    assert {o["split"] for o in results["outcomes"]} == {"calibration", "evaluation"}
    sarees = {split: {o["saree"] for o in results["outcomes"] if o["split"] == split}
              for split in ("calibration", "evaluation")}  # fmt: skip
    assert not sarees["calibration"] & sarees["evaluation"]
    timing = results["timing"]
    assert timing["ours_median_ms"] > 0 and timing["skimage_median_ms"] > 0
