"""validate_output on a hand-built pose with known ground truth (tests/validation_fixture.py).

Faithful renders (also after JPEG q90 and a one-pixel shift) must pass; every named defect must
be caught by measurement, with the right failure kind and a reason naming the region.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from sareeflow.defects import apply_defect
from sareeflow.errors import InvalidInput
from sareeflow.models import PlacementMap, ValidationReport
from sareeflow.settings import RegionThresholds, ValidationThresholds
from tasks.validate import ExpectedPose, prepare_region, validate_output
from tests.validation_fixture import jpeg_roundtrip, make_placement, make_s_flat, render, shift

THRESHOLDS = ValidationThresholds()
BORDERS = {"waist_border", "hem_border"}


@pytest.fixture(scope="module")
def s_flat() -> np.ndarray:
    return make_s_flat()


@pytest.fixture(scope="module")
def placement() -> PlacementMap:
    return make_placement()


@pytest.fixture(scope="module")
def faithful(s_flat: np.ndarray, placement: PlacementMap) -> np.ndarray:
    return render(s_flat, placement)


def _check(report: ValidationReport, region: str):
    return next(c for c in report.regions if c.region == region)


# ------------------------------------------------------------------------------ faithful
def test_faithful_render_passes_every_region(faithful, placement, s_flat):
    report = validate_output(faithful, placement, s_flat, thresholds=THRESHOLDS)
    assert report.passed, report.reasons
    assert [c.region for c in report.regions] == [r.name for r in placement.regions]
    for check in report.regions:
        assert check.passed and check.failures == [] and check.reasons == []
        assert check.ssim == pytest.approx(1.0, abs=1e-3)
        assert check.delta_e == pytest.approx(0.0, abs=0.05)
        if check.region in BORDERS:
            assert check.border_continuity is not None and check.border_continuity >= 0.95
            assert check.border_max_offset_px is not None and check.border_max_offset_px <= 1.0
        else:
            assert check.border_continuity is None and check.border_breaks is None


@pytest.mark.parametrize("quality", [90])
def test_jpeg_reencoded_faithful_render_passes(faithful, placement, s_flat, quality):
    damaged = jpeg_roundtrip(faithful, quality)
    report = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    assert report.passed, report.reasons
    assert max(c.delta_e for c in report.regions) < 2.0


@pytest.mark.parametrize("dx, dy", [(1, 0), (0, 1), (-1, -1)])
def test_one_pixel_shift_of_faithful_render_passes(faithful, placement, s_flat, dx, dy):
    report = validate_output(shift(faithful, dx, dy), placement, s_flat, thresholds=THRESHOLDS)
    assert report.passed, report.reasons


@pytest.mark.parametrize("dx, dy", [(2, -1), (0, 0), (-2, 2)])
def test_alignment_finds_the_shift(faithful, placement, s_flat, dx, dy):
    region = next(r for r in placement.regions if r.name == "pleats")
    item = prepare_region(shift(faithful, dx, dy), placement, region, s_flat)
    assert item.shift == (dx, dy)
    inside = item.coverage >= 1.0
    assert np.abs(item.got[inside].astype(int) - item.want[inside]).max() <= 1


def test_report_is_deterministic_and_rounded(faithful, placement, s_flat):
    damaged = jpeg_roundtrip(faithful, 80)
    first = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    second = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    assert first.model_dump_json(by_alias=True) == second.model_dump_json(by_alias=True)
    for check in first.regions:
        for value in (check.ssim, check.delta_e, check.pattern_score):
            assert value == round(value, 4)


def test_region_check_json_uses_the_pass_key(faithful, placement, s_flat):
    report = validate_output(faithful, placement, s_flat, thresholds=THRESHOLDS)
    data = json.loads(report.model_dump_json(by_alias=True))
    region = data["regions"][0]
    assert region["pass"] is True and "passed" not in region
    assert {"region", "ssim", "delta_e", "pattern_score", "bbox", "failures", "reasons"} <= set(
        region
    )
    assert region["bbox"] == list(placement.regions[0].bbox)


# ------------------------------------------------------------------------------ defects
@pytest.mark.parametrize(
    "defect, kind, regions",
    [
        ("border_distortion", "border_distortion", BORDERS),
        ("color_shift", "color_shift", {"pleats", "pallu_drape", *BORDERS}),
        ("pattern_loss", "pattern_loss", {"pleats"}),
        ("pallu_swap", "pallu_mismatch", {"pallu_drape"}),
        ("border_missing", "border_missing", BORDERS),
        ("border_gap", "border_distortion", BORDERS),
        ("hue_rotation", "color_shift", {"pleats", "pallu_drape", *BORDERS}),
        ("mirror_pattern", "pallu_mismatch", {"pallu_drape"}),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_each_defect_is_caught_with_its_kind(
    faithful, placement, s_flat, defect, kind, regions, seed
):
    damaged = apply_defect(defect, faithful, placement, seed=seed)
    report = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    assert not report.passed
    assert kind in report.failures
    flagged = [c for c in report.regions if kind in c.failures]
    assert flagged and {c.region for c in flagged} <= regions
    for check in flagged:
        assert not check.passed
        assert any(f"'{check.region}'" in reason for reason in check.reasons)


def _bend(image: np.ndarray, amplitude: float, rows: slice, cols: tuple[int, int]) -> np.ndarray:
    """Push ``rows`` of the image down by a raised-cosine bump of ``amplitude`` px over ``cols``."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = cols
    t = np.clip((xx - c0) / (c1 - c0), 0, 1)
    bump = amplitude * 0.5 * (1 - np.cos(2 * np.pi * t))
    inside = np.zeros((h, w), bool)
    inside[rows] = True
    map_y = np.where(inside, yy - bump, yy).astype(np.float32)
    return cv2.remap(image, xx, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("amplitude", [4.0, 9.0])
def test_border_bend_is_measured_in_output_pixels(faithful, placement, s_flat, amplitude):
    """A bend of the waist border (checked at reduced resolution) is reported at its size."""
    bent = _bend(faithful, amplitude, slice(0, 68), (200, 400))
    report = validate_output(bent, placement, s_flat, thresholds=THRESHOLDS)
    waist = _check(report, "waist_border")
    assert waist.border_max_offset_px == pytest.approx(amplitude, abs=1.5)
    if amplitude > THRESHOLDS.border.max_border_offset_px:
        assert "border_distortion" in waist.failures
        assert any("drifts up to" in reason for reason in waist.reasons)


def test_pattern_loss_is_not_reported_as_colour_shift(faithful, placement, s_flat):
    """A blur keeps the mean colour: only the pattern failure is reported."""
    damaged = apply_defect("pattern_loss", faithful, placement, seed=0)
    report = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    assert report.failures == ["pattern_loss"]
    assert "lost the cloth's pattern" in _check(report, "pleats").reasons[0]


def test_colour_reason_is_a_plain_sentence(faithful, placement, s_flat):
    damaged = apply_defect("color_shift", faithful, placement, seed=3)
    report = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    check = _check(report, "pleats")
    assert check.failures == ["color_shift"]
    assert check.reasons[0].startswith("Region 'pleats' changed colour: mean ΔE2000 ")
    assert check.reasons[0].endswith("(limit 3.0).")


def test_pallu_reason_names_the_pallu(faithful, placement, s_flat):
    damaged = apply_defect("pallu_swap", faithful, placement, seed=3)
    report = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    reasons = _check(report, "pallu_drape").reasons
    assert any("does not show the pallu's pattern" in r for r in reasons)


def _move_region(image: np.ndarray, placement: PlacementMap, name: str, dx: int, dy: int):
    """Draw region ``name`` (dx, dy) px off its place: inside its mask the canvas shows what
    lies that far the other way, as a renderer that misplaced the cloth would."""
    region = next(r for r in placement.regions if r.name == name)
    x, y, w, h = region.bbox
    moved = np.roll(image, (dy, dx), axis=(0, 1))
    out = image.copy()
    inside = placement.mask(name)
    out[y : y + h, x : x + w][inside] = moved[y : y + h, x : x + w][inside]
    return out


@pytest.mark.parametrize(("dx", "dy"), [(10, -6), (-8, 0), (0, 16)])
def test_a_displaced_pallu_is_reported_as_misplaced_with_its_offset(
    faithful, placement, s_flat, dx, dy
):
    """The retry must be told to keep the cloth in place, not to change the pallu's design."""
    damaged = _move_region(faithful, placement, "pallu_drape", dx, dy)
    report = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    pallu = _check(report, "pallu_drape")
    assert not report.passed and pallu.failures == ["misplaced"]
    assert pallu.reasons == [
        f"Region 'pallu_drape' is misplaced: its cloth appears {dx:+d} px across and "
        f"{dy:+d} px down from where the placement map puts it."
    ]


@pytest.mark.parametrize("defect", ["pallu_swap", "mirror_pattern", "color_shift"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_pallu_that_is_in_place_is_never_called_misplaced(
    faithful, placement, s_flat, defect, seed
):
    damaged = apply_defect(defect, faithful, placement, seed=seed)
    report = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    assert not report.passed and "misplaced" not in report.failures


def test_half_severity_colour_shift_is_smaller(faithful, placement, s_flat):
    full = validate_output(
        apply_defect("color_shift", faithful, placement, seed=4),
        placement,
        s_flat,
        thresholds=THRESHOLDS,
    )
    half = validate_output(
        apply_defect("color_shift", faithful, placement, seed=4, severity=0.5),
        placement,
        s_flat,
        thresholds=THRESHOLDS,
    )
    assert _check(half, "pleats").delta_e < 0.7 * _check(full, "pleats").delta_e


# ------------------------------------------------------------------------------ thresholds
def test_thresholds_are_chosen_by_region_kind(faithful, placement, s_flat):
    """JPEG noise is below the defaults; a zero ΔE limit for borders fails borders only."""
    strict = ValidationThresholds(border=RegionThresholds(max_delta_e=0.0))
    report = validate_output(jpeg_roundtrip(faithful, 90), placement, s_flat, thresholds=strict)
    failed = {c.region for c in report.regions if not c.passed}
    assert failed == BORDERS
    assert all(_check(report, r).failures == ["color_shift"] for r in BORDERS)


def test_hidden_region_is_not_checked(faithful, s_flat):
    placement = make_placement()
    arrays = placement.arrays["pallu_drape"]
    arrays["map_x"][:] = -1
    arrays["map_y"][:] = -1
    report = validate_output(faithful, placement, s_flat, thresholds=THRESHOLDS)
    assert "pallu_drape" not in {c.region for c in report.regions}
    assert report.passed


# ------------------------------------------------------------------------------ inputs
def test_output_of_the_wrong_size_is_rejected(faithful, placement, s_flat):
    message = r"is 600x899 with 3 channels, but pose 't1' needs 600x900"
    with pytest.raises(InvalidInput, match=message):
        validate_output(faithful[:-1], placement, s_flat, thresholds=THRESHOLDS)


def test_output_of_the_wrong_dtype_is_rejected(faithful, placement, s_flat):
    with pytest.raises(InvalidInput, match="RGB uint8"):
        validate_output(faithful.astype(np.float32), placement, s_flat, thresholds=THRESHOLDS)


def test_grey_output_is_rejected(faithful, placement, s_flat):
    with pytest.raises(InvalidInput, match="single-channel"):
        validate_output(faithful[..., 0], placement, s_flat, thresholds=THRESHOLDS)


def test_s_flat_of_the_wrong_size_is_rejected(faithful, placement, s_flat):
    with pytest.raises(InvalidInput, match="S_flat is 1199x400"):
        validate_output(faithful, placement, s_flat[:, :-1], thresholds=THRESHOLDS)


def test_region_arrays_must_match_the_bbox(faithful, s_flat):
    placement = make_placement()
    arrays = placement.arrays["pleats"]
    arrays["shading"] = arrays["shading"][:-1]
    with pytest.raises(InvalidInput, match="Region 'pleats': shading"):
        validate_output(faithful, placement, s_flat, thresholds=THRESHOLDS)


# ------------------------------------------------------------------------------ local change
def test_a_patch_of_other_cloth_in_the_body_is_caught(faithful, placement, s_flat):
    """A 60 px square of the pallu's magenta in the body (~2.5 % of it) keeps every area mean
    in range; the share of 8 px blocks that changed by more than ΔE2000 10 does not."""
    damaged = faithful.copy()
    damaged[300:360, 150:210] = (170, 30, 110)
    report = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    pleats = _check(report, "pleats")
    assert pleats.failures == ["pattern_loss"]
    assert "shows other cloth or motifs in" in pleats.reasons[0]
    assert {c.region for c in report.regions if not c.passed} == {"pleats"}


# ------------------------------------------------------------------------------ expected side
def test_expected_pose_can_be_reused_for_many_outputs(faithful, placement, s_flat):
    expected = ExpectedPose(placement, s_flat)
    for image in (faithful, jpeg_roundtrip(faithful, 80), apply_defect("pattern_loss", faithful, placement, seed=1)):  # fmt: skip
        fresh = validate_output(image, placement, s_flat, thresholds=THRESHOLDS)
        reused = validate_output(image, placement, s_flat, thresholds=THRESHOLDS, expected=expected)
        assert reused.model_dump_json() == fresh.model_dump_json()


def test_expected_pose_of_another_map_is_rejected(faithful, placement, s_flat):
    expected = ExpectedPose(make_placement(), s_flat)
    with pytest.raises(InvalidInput, match="another placement map"):
        validate_output(faithful, placement, s_flat, thresholds=THRESHOLDS, expected=expected)
