"""Named defects: deterministic, confined to the regions they damage, of the documented size.

Whether validation catches them is tested in tests/tasks/test_validate.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from metrics import delta_e_ciede2000, rgb_to_lab
from sareeflow.defects import DEFECTS, applies_to, apply_defect, lab_to_rgb
from sareeflow.errors import InvalidInput
from sareeflow.models import PlacementMap
from tests.validation_fixture import make_placement, make_s_flat, render

REQUIRED = ("border_distortion", "color_shift", "pattern_loss", "pallu_swap")


@pytest.fixture(scope="module")
def placement() -> PlacementMap:
    return make_placement()


@pytest.fixture(scope="module")
def faithful(placement: PlacementMap) -> np.ndarray:
    return render(make_s_flat(), placement)


def _only(placement: PlacementMap, *names: str) -> PlacementMap:
    """The same pose restricted to some regions."""
    regions = [r for r in placement.regions if r.name in names]
    return PlacementMap(
        pose=placement.pose,
        canvas_size=placement.canvas_size,
        flat_size=placement.flat_size,
        regions=regions,
        arrays={r.name: placement.arrays[r.name] for r in regions},
    )


def _canvas_mask(placement: PlacementMap, *names: str) -> np.ndarray:
    cw, ch = placement.canvas_size
    out = np.zeros((ch, cw), bool)
    for region in placement.regions:
        if region.name in names:
            x, y, w, h = region.bbox
            out[y : y + h, x : x + w] |= placement.mask(region.name)
    return out


def test_required_defects_exist():
    assert set(REQUIRED) <= set(DEFECTS)


def test_unknown_defect_lists_the_known_ones(faithful, placement):
    message = r"Unknown defect 'smudge'; known defects: .*color_shift"
    with pytest.raises(InvalidInput, match=message):
        apply_defect("smudge", faithful, placement, seed=0)


def test_wrong_image_size_is_rejected(faithful, placement):
    with pytest.raises(InvalidInput, match="600x900"):
        apply_defect("color_shift", faithful[:10], placement, seed=0)


def test_non_positive_severity_is_rejected(faithful, placement):
    with pytest.raises(InvalidInput, match="severity"):
        apply_defect("color_shift", faithful, placement, seed=0, severity=0)


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defects_are_deterministic_and_leave_the_input_alone(faithful, placement, name):
    before = faithful.copy()
    first = apply_defect(name, faithful, placement, seed=11)
    second = apply_defect(name, faithful, placement, seed=11)
    assert np.array_equal(faithful, before)
    assert first.dtype == np.uint8 and first.shape == faithful.shape
    assert first.tobytes() == second.tobytes()
    assert not np.array_equal(first, faithful)


@pytest.mark.parametrize("name", ["border_distortion", "color_shift", "pallu_swap", "border_gap"])
def test_seed_changes_the_damage(faithful, placement, name):
    a = apply_defect(name, faithful, placement, seed=1)
    b = apply_defect(name, faithful, placement, seed=2)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize(
    "name, regions",
    [
        ("color_shift", ("waist_border", "pleats", "pallu_drape", "hem_border")),
        ("hue_rotation", ("waist_border", "pleats", "pallu_drape", "hem_border")),
        ("pattern_loss", ("pleats",)),
        ("pallu_swap", ("pallu_drape",)),
        ("border_missing", ("waist_border", "hem_border")),
        ("border_gap", ("waist_border", "hem_border")),
        ("mirror_pattern", ("pleats", "pallu_drape")),
    ],
)
def test_defects_stay_inside_their_regions(faithful, placement, name, regions):
    damaged = apply_defect(name, faithful, placement, seed=5)
    changed = np.any(damaged != faithful, axis=2)
    assert changed.any()
    assert not (changed & ~_canvas_mask(placement, *regions)).any()


def test_colour_shift_is_about_delta_e_8(faithful, placement):
    cloth = _canvas_mask(placement, *(r.name for r in placement.regions))
    for severity, expected in ((1.0, 8.0), (0.5, 4.0)):
        damaged = apply_defect("color_shift", faithful, placement, seed=7, severity=severity)
        de = delta_e_ciede2000(rgb_to_lab(faithful[cloth]), rgb_to_lab(damaged[cloth]))
        assert float(de.mean()) == pytest.approx(expected, abs=0.3)


def test_lab_to_rgb_inverts_rgb_to_lab():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(5000, 3), dtype=np.uint8)
    assert np.abs(lab_to_rgb(rgb_to_lab(rgb)).astype(int) - rgb).max() <= 1


def _vertical_offset(before: np.ndarray, after: np.ndarray, x: int, rows: slice) -> int:
    """Whole-pixel vertical shift of column ``x`` (luma profile) that best matches ``after``."""
    a = before[rows, x].astype(float).mean(axis=1)
    b = after[rows, x].astype(float).mean(axis=1)
    errors = {s: np.abs(np.roll(a, s)[20:-20] - b[20:-20]).mean() for s in range(-20, 21)}
    return min(errors, key=lambda s: (errors[s], abs(s)))


@pytest.mark.parametrize("severity", [1.0, 0.5])
def test_border_bend_has_the_documented_amplitude(placement, severity):
    """The straight waist border (y = 42), alone on the canvas, is bent by 8-12 px at severity 1."""
    waist = _only(placement, "waist_border")
    faithful = render(make_s_flat(), waist)
    for seed in range(4):
        damaged = apply_defect("border_distortion", faithful, waist, seed=seed, severity=severity)
        rows = slice(0, 120)
        offsets = [abs(_vertical_offset(faithful, damaged, x, rows)) for x in range(48, 552, 4)]
        peak = max(offsets)
        assert 8 * severity - 1 <= peak <= 12 * severity + 1
        # only part of the length is bent
        assert sum(o <= 1 for o in offsets) >= len(offsets) // 3


def test_pallu_swap_shows_body_cloth(faithful, placement):
    """After the swap the pallu's colours are the body's: teal ground, no magenta."""
    damaged = apply_defect("pallu_swap", faithful, placement, seed=0)
    pallu = _canvas_mask(placement, "pallu_drape")
    body = _canvas_mask(placement, "pleats")
    before = rgb_to_lab(faithful[pallu]).mean(axis=0)
    after = rgb_to_lab(damaged[pallu]).mean(axis=0)
    body_lab = rgb_to_lab(faithful[body]).mean(axis=0)
    assert np.linalg.norm((after - body_lab)[1:]) < 4  # a*, b*: lightness follows the shading
    assert np.linalg.norm(after - before) > 30


def test_pattern_loss_smooths_the_body(faithful, placement):
    damaged = apply_defect("pattern_loss", faithful, placement, seed=0)
    body = _canvas_mask(placement, "pleats")
    grad = lambda img: np.abs(np.diff(img.astype(float).mean(axis=2), axis=0))[body[1:]].mean()  # noqa: E731
    assert grad(damaged) < 0.4 * grad(faithful)


def test_defects_needing_a_border_refuse_a_pose_without_one(faithful, placement):
    body_only = _only(placement, "pleats", "pallu_drape")
    for name in ("border_distortion", "border_missing", "border_gap"):
        with pytest.raises(InvalidInput, match="border region"):
            apply_defect(name, faithful, body_only, seed=0)


def test_pallu_swap_refuses_a_pose_without_body_cloth(faithful, placement):
    with pytest.raises(InvalidInput, match="body"):
        apply_defect("pallu_swap", faithful, _only(placement, "pallu_drape"), seed=0)


@pytest.mark.parametrize("name", sorted(DEFECTS))
@pytest.mark.parametrize(
    "regions",
    [
        ("pleats", "pallu_drape", "waist_border", "hem_border"),
        ("pleats", "pallu_drape"),
        ("pallu_drape",),
        ("pleats",),
        ("waist_border",),
    ],
)
def test_applies_to_predicts_apply_defect(faithful, placement, name, regions):
    pose = _only(placement, *regions)
    kinds = {r.kind for r in pose.regions}
    if applies_to(name, kinds):
        assert not np.array_equal(apply_defect(name, faithful, pose, seed=0), faithful)
    else:
        with pytest.raises(InvalidInput):
            apply_defect(name, faithful, pose, seed=0)
