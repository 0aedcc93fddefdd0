"""`make bench-stages` in CI: the quick set (12 photos) must run through every stage and report
every column of the issue-5 table. Times are not asserted (shared, noisy machines); of the
accuracy targets only those that hold with a wide margin on the quick set are asserted. The
scoring helpers are checked on hand-made cases (fast, not marked slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.bench_stages import (
    BACKGROUNDS,
    QUICK_PHOTOS,
    corner_match,
    mask_iou,
    photo_specs,
    truth_sizes,
)
from sareeflow.synth import make_cloth

POSES = [f"{i:02d}" for i in range(1, 13)]
TABLE_LABELS = (
    "mask IoU",
    "corner error (% of cloth size)",
    "colour ΔE2000, plain areas",
    "colour ΔE2000, plain flat-lit areas",
    "border boundary error (% of height)",
    "pallu boundary error (% of length)",
    "with pallu: long side horizontal + pallu right",
    "without pallu: long side horizontal",
    "first-attempt validation pass rate per pose",
)


@pytest.mark.slow
def test_quick_run_reports_every_column(tmp_path, run_benchmark) -> None:
    done = run_benchmark("bench_stages", "--quick", timeout_s=1800)
    for label in TABLE_LABELS:
        assert label in done.stdout, f"table lacks {label!r}"
    payload = json.loads((tmp_path / "stages.json").read_text())
    summary, records = payload["summary"], payload["records"]
    assert summary["photos"] == QUICK_PHOTOS == len(records)
    assert not summary["crashes"], summary["worst"]["crashes"]
    # the quick set covers the hard cases it must
    photos = [r["photo"] for r in records]
    assert {p["background"] for p in photos} == set(BACKGROUNDS)
    assert {p["difficulty"] for p in photos} == {"normal", "hard"}
    assert {p["rotation"] for p in photos} == {0, 1, 2, 3}
    assert any(not p["has_border"] for p in photos) and any(not p["has_pallu"] for p in photos)
    # every column is there and measured
    for key in ("mean", "min", "share_pct"):
        assert summary["iou"][key] is not None
    for key in ("mean", "max", "share_pct"):
        assert summary["corner_error_pct"][key] is not None
    for key in ("with_pallu", "without_pallu_long_side_horizontal"):
        assert (
            summary["orientation"][key]["n"] > 0 and summary["orientation"][key]["pct"] is not None
        )
    for key in ("de2000_plain", "de2000_flat_lit", "de76_plain", "de76_flat_lit"):
        assert summary["colour"][key]["mean"] is not None
    for key in ("borders", "pallu"):
        assert summary["bands"][key]["mean"] is not None
        assert summary["bands"][key]["presence_right_pct"] is not None
    assert sorted(summary["poses"]) == POSES
    assert all(summary["poses"][p]["pass_pct"] is not None for p in POSES)
    assert all(set(r["poses"]) == set(POSES) for r in records)
    # issue-5 targets that hold with a wide margin on this set (measured: IoU mean 0.991,
    # corner error max 0.44 %, ΔE2000 mean 0.71)
    assert summary["iou"]["mean"] >= 0.98
    assert summary["corner_error_pct"]["max"] <= 1.0
    assert summary["colour"]["de2000_plain"]["mean"] <= 2.0
    assert "timing" in payload and "timing" not in records[0]


def test_corner_match_scores_geometry_and_names_the_labelling() -> None:
    truth = np.array([(100.0, 50.0), (900.0, 80.0), (880.0, 300.0), (90.0, 280.0)])
    found = truth + np.array([(2.0, 0.0), (0.0, 0.0), (0.0, -1.0), (0.0, 0.0)])
    error, shift = corner_match(found, truth)
    assert shift == 0 and error == pytest.approx(2.0 / 810.0 * 100)
    turned, shift = corner_match(found[[2, 3, 0, 1]], truth)  # the same cloth, pallu on the left
    assert shift == 2 and turned == pytest.approx(error)
    _, shift = corner_match(np.roll(found, 1, axis=0), truth)  # short side horizontal
    assert shift % 2 == 1


def test_truth_sizes_follow_a_turned_flat() -> None:
    _, cloth = make_cloth(3, size=(400, 100))
    assert cloth.border_top is not None and cloth.pallu is not None
    upright = truth_sizes(cloth, (800, 200), turned=False)
    assert upright["border_top"] == pytest.approx(cloth.border_top[3] * 2)
    assert upright["pallu"] == pytest.approx(cloth.pallu[2] * 2)
    turned = truth_sizes(cloth, (800, 200), turned=True)
    assert turned["border_top"] == upright["border_bottom"]
    assert turned["border_bottom"] == upright["border_top"] and turned["pallu"] == 0.0


def test_mask_iou_and_photo_set() -> None:
    truth = np.zeros((40, 60), bool)
    truth[10:30, 10:50] = True
    found = np.where(truth, 255, 0).astype(np.uint8)
    assert mask_iou(found, truth) == 1.0
    found[10:20, 10:50] = 0
    assert mask_iou(found, truth) == pytest.approx(0.5)
    specs = photo_specs(40, 7)
    combos = {(s.difficulty, s.background, s.rotation) for s in specs}
    assert len(combos) == 40  # every combination once per 40 photos
    assert [s.seed for s in specs[:3]] == [7, 8, 9]
