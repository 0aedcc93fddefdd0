"""Named defects and benign changes: deterministic, confined to the regions they damage, of
the documented size; every defect at its clear level is caught on the fixture, and every benign
change passes.

Which failure kind validation reports for each defect is tested in tests/tasks/test_validate.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from metrics import delta_e_ciede2000, rgb_to_lab
from sareeflow.benign import BENIGN, apply_benign
from sareeflow.defects import CLEAR, DEFECTS, LEVELS, applies_to, apply_defect, lab_to_rgb
from sareeflow.errors import InvalidInput
from sareeflow.models import PlacementMap
from sareeflow.settings import ValidationThresholds
from tasks.validate import validate_output
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


@pytest.mark.parametrize(
    "name",
    [
        "border_distortion",
        "color_shift",
        "pallu_swap",
        "border_gap",
        "hue_rotation",
        "border_recoloured",
        "motif_replaced",
        "region_shifted",
    ],
)
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
        ("saturation_loss", ("waist_border", "pleats", "pallu_drape", "hem_border")),
        ("pattern_rescaled", ("pleats",)),
        ("motif_replaced", ("pleats",)),
        ("border_recoloured", ("waist_border", "hem_border")),
        ("region_shifted", ("waist_border", "hem_border", "pallu_drape")),
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


# ------------------------------------------------------------------------------ graded levels
THRESHOLDS = ValidationThresholds()


def test_every_defect_has_graded_levels_with_a_clear_one():
    assert set(LEVELS) == set(DEFECTS)
    for name, levels in LEVELS.items():
        severities = [level.severity for level in levels]
        assert severities == sorted(severities) and len(set(severities)) == len(severities), name
        assert [level.name for level in levels].count(CLEAR) == 1, name


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_clear_level_is_caught_on_the_fixture(faithful, placement, name):
    clear = next(level for level in LEVELS[name] if level.name == CLEAR)
    damaged = apply_defect(name, faithful, placement, seed=21, severity=clear.severity)
    report = validate_output(damaged, placement, make_s_flat(), thresholds=THRESHOLDS)
    assert not report.passed, f"{name} at {clear.size} passed validation"


def _mean_delta_e(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> float:
    return float(delta_e_ciede2000(rgb_to_lab(before[mask]), rgb_to_lab(after[mask])).mean())


@pytest.mark.parametrize(
    "name, regions",
    [
        ("hue_rotation", ("waist_border", "pleats", "pallu_drape", "hem_border")),
        ("saturation_loss", ("waist_border", "pleats", "pallu_drape", "hem_border")),
        ("border_recoloured", ("waist_border", "hem_border")),
    ],
)
def test_colour_defects_reach_their_measured_delta_e(faithful, placement, name, regions):
    """Levels are sized by the ΔE2000 measured on the damaged cloth: 2, 4 and 8."""
    mask = _canvas_mask(placement, *regions)
    for level in LEVELS[name]:
        damaged = apply_defect(name, faithful, placement, seed=9, severity=level.severity)
        assert _mean_delta_e(faithful, damaged, mask) == pytest.approx(
            8.0 * level.severity, abs=0.3
        )


def test_saturation_loss_keeps_lightness_and_hue(faithful, placement):
    mask = _canvas_mask(placement, "pleats", "pallu_drape")
    before = rgb_to_lab(faithful[mask]).astype(np.float64)
    after = rgb_to_lab(apply_defect("saturation_loss", faithful, placement, seed=0)[mask]).astype(
        np.float64
    )
    assert np.abs(after[:, 0] - before[:, 0]).mean() < 1.0
    chroma_before = np.hypot(before[:, 1], before[:, 2])
    chroma_after = np.hypot(after[:, 1], after[:, 2])
    assert chroma_after.mean() < 0.9 * chroma_before.mean()
    saturated = chroma_before > 20
    hue_before = np.arctan2(before[saturated, 2], before[saturated, 1])
    hue_after = np.arctan2(after[saturated, 2], after[saturated, 1])
    assert np.median(np.abs(np.angle(np.exp(1j * (hue_after - hue_before))))) < np.deg2rad(3)


def _period_px(image: np.ndarray, placement: PlacementMap) -> float:
    """Dominant period (px) of the body's luma along the rows of its inner part."""
    x, y, _, _ = next(r for r in placement.regions if r.name == "pleats").bbox
    patch = image[y + 150 : y + 400, x + 40 : x + 256].astype(np.float64).mean(axis=2)
    spectrum = np.abs(np.fft.rfft(patch - patch.mean(axis=1, keepdims=True), axis=1)).mean(axis=0)
    spectrum[:8] = 0  # periods of 27 px and more: the row mean and the 46 px fold shading
    return patch.shape[1] / float(np.argmax(spectrum))


@pytest.mark.parametrize("severity", [0.5, 1.0])
def test_pattern_rescaled_magnifies_the_body_pattern(faithful, placement, severity):
    """The fixture's body repeats every 14 px along a row (dots and a 28 px lattice): the
    rescaled pattern repeats every 14 x (1 + 0.5 x severity) px."""
    before = _period_px(faithful, placement)
    after = _period_px(
        apply_defect("pattern_rescaled", faithful, placement, seed=0, severity=severity),
        placement,
    )
    assert after / before == pytest.approx(1 + 0.5 * severity, rel=0.1)


@pytest.mark.parametrize("severity", [0.25, 0.5, 1.0])
def test_motif_replaced_redraws_its_share_of_the_body_in_its_colours(faithful, placement, severity):
    damaged = apply_defect("motif_replaced", faithful, placement, seed=4, severity=severity)
    region = next(r for r in placement.regions if r.name == "pleats")
    x, y, w, h = region.bbox
    mask = placement.mask("pleats")
    changed_rows = np.any(damaged[y : y + h, x : x + w] != faithful[y : y + h, x : x + w], axis=2)
    share = changed_rows.any(axis=1).mean()  # the band runs across the region's long side
    assert share == pytest.approx(severity, abs=0.05)
    # The ground stays the body's teal: the median colour moves by less than a small ΔE.
    band = changed_rows & mask
    ground_before = np.median(faithful[y : y + h, x : x + w][band], axis=0)
    ground_after = np.median(damaged[y : y + h, x : x + w][band], axis=0)
    lab = rgb_to_lab(np.stack([ground_before, ground_after]).astype(np.uint8))
    assert float(delta_e_ciede2000(lab[:1], lab[1:])[0]) < 5.0


@pytest.mark.parametrize("seed", range(4))
def test_region_shifted_moves_one_region_by_the_documented_distance(faithful, placement, seed):
    """At severity 1 one border or pallu region is 16 px off its place; nothing else changes.
    The fixture's waist border runs straight along x, so it moves along y."""
    damaged = apply_defect("region_shifted", faithful, placement, seed=seed)
    changed = np.any(damaged != faithful, axis=2)
    touched = [r for r in placement.regions if (changed & _canvas_mask(placement, r.name)).any()]
    assert len(touched) == 1 and touched[0].kind in ("border", "pallu")
    region = touched[0]
    inside = _canvas_mask(placement, region.name)
    inside[:20], inside[-20:], inside[:, :20], inside[:, -20:] = False, False, False, False
    rows, cols = np.nonzero(inside)
    moves = [
        (dx, dy)
        for dy in range(-17, 18)
        for dx in range(-17, 18)
        if np.array_equal(damaged[rows, cols], faithful[rows - dy, cols - dx])
    ]
    assert len(moves) == 1
    dx, dy = moves[0]
    assert np.hypot(dx, dy) == pytest.approx(16.0, abs=0.75)
    if region.name == "waist_border":
        assert dx == 0


# ------------------------------------------------------------------------------ benign
@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_changes_are_deterministic_and_pass_validation(faithful, placement, name):
    first = apply_benign(name, faithful, seed=5)
    assert first.tobytes() == apply_benign(name, faithful, seed=5).tobytes()
    assert first.shape == faithful.shape and not np.array_equal(first, faithful)
    report = validate_output(first, placement, make_s_flat(), thresholds=THRESHOLDS)
    assert report.passed, report.reasons


def test_benign_changes_are_as_small_as_documented(faithful):
    noise = apply_benign("mild_noise", faithful, seed=1).astype(float) - faithful
    assert np.std(noise) == pytest.approx(3.0, abs=0.3)
    shifted = apply_benign("shift_1px", faithful, seed=1)
    matches = [
        np.array_equal(shifted[2:-2, 2:-2], np.roll(faithful, (dy, dx), axis=(0, 1))[2:-2, 2:-2])
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dx, dy) != (0, 0)
    ]
    assert sum(matches) == 1
    grey = np.full((1, 1, 3), 118, np.uint8)  # about 18 % grey: linear light 0.18
    lighter_or_darker = int(apply_benign("exposure", grey, seed=1)[0, 0, 0]) - 118
    assert 3 <= abs(lighter_or_darker) <= 6  # ±0.1 EV ≈ ±7 % light ≈ ±4 levels here


def test_unknown_benign_change_lists_the_known_ones(faithful):
    with pytest.raises(InvalidInput, match=r"Unknown benign change 'blur'; known: .*jpeg_q85"):
        apply_benign("blur", faithful, seed=0)
