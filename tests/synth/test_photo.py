"""Generated product photos: deterministic, and the truth (mask, corners, light) fits the pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sareeflow.synth import make_cloth, make_large_photo, make_photo
from sareeflow.synth.photo import COVERAGE_RANGE

SIZE = (800, 600)
"""Small frames keep the tests fast; geometry is resolution independent."""


def _photo(seed: int, difficulty: str = "normal", **kw):
    cloth, truth = make_cloth(seed, size=(900, 200))
    photo, pt = make_photo(cloth, truth, seed, size=SIZE, difficulty=difficulty, **kw)
    return cloth, photo, pt


def _area(pts) -> float:
    p = np.asarray(pts)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def test_same_seed_gives_identical_bytes():
    _, a, ta = _photo(4)
    _, b, tb = _photo(4)
    _, c, _ = _photo(5)
    assert a.tobytes() == b.tobytes()
    assert ta.corners == tb.corners and (ta.mask == tb.mask).all()
    assert a.tobytes() != c.tobytes()


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("difficulty", ["easy", "normal", "hard"])
def test_mask_corners_and_coverage_agree(seed, difficulty):
    _, photo, pt = _photo(seed, difficulty)
    h, w = photo.shape[:2]
    assert photo.dtype == np.uint8 and (w, h) == SIZE == pt.size
    assert pt.mask.shape == (h, w) and pt.mask.dtype == bool
    assert COVERAGE_RANGE[0] <= pt.coverage <= COVERAGE_RANGE[1]
    assert abs(pt.mask.sum() - _area(pt.corners)) < 0.01 * pt.mask.sum()
    corners = np.asarray(pt.corners)
    assert (
        (corners >= 1).all() and (corners[:, 0] <= w - 1).all() and (corners[:, 1] <= h - 1).all()
    )
    # Nothing of the cloth touches the frame edge.
    assert not pt.mask[0].any() and not pt.mask[-1].any()
    assert not pt.mask[:, 0].any() and not pt.mask[:, -1].any()
    # The canonical long side stays the longer one.
    long = np.linalg.norm(corners[1] - corners[0])
    short = np.linalg.norm(corners[3] - corners[0])
    assert long > 1.2 * short


def _inner(rect, frac: float = 0.1):
    """The rect shrunk by ``frac`` of its size on every side (avoids edges blurred by the warp)."""
    x, y, w, h = rect
    dx, dy = round(w * frac), round(h * frac)
    return (x + dx, y + dy, w - 2 * dx, h - 2 * dy)


def _means(cloth, photo, pt, rect) -> tuple[np.ndarray, np.ndarray]:
    """(cloth mean, photo mean divided by the truth light field) over a cloth rect's inner part."""
    x, y, w, h = _inner(rect)
    expected = cloth[y : y + h, x : x + w].reshape(-1, 3).mean(axis=0)
    cw, ch = pt.cloth.size
    src = np.array([(0, 0), (cw, 0), (cw, ch), (0, ch)], np.float32)
    hmat = cv2.getPerspectiveTransform(src, np.asarray(pt.corners, np.float32))
    quad = np.array([(x, y), (x + w, y), (x + w, y + h), (x, y + h)], np.float32)[None]
    dst = cv2.perspectiveTransform(quad, hmat)[0]
    region = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(region, [np.round(dst).astype(np.int32)], 1)
    assert region.sum() > 200
    unlit = photo.astype(np.float32) / pt.illumination[..., None]
    return expected, unlit[region.astype(bool)].mean(axis=0)


@pytest.mark.parametrize("seed", range(6))
def test_illumination_and_geometry_explain_the_colours(seed):
    cloth, photo, pt = _photo(seed)
    truth = pt.cloth
    for rect in (truth.body, truth.pallu, truth.border_top):
        if rect is None or min(rect[2], rect[3]) < 20:
            continue
        expected, got = _means(cloth, photo, pt, rect)
        assert np.abs(got - expected).max() < 6.0, (rect, got, expected)


def test_illumination_field_is_smooth_and_in_range():
    _, _, pt = _photo(2, "hard")
    light = pt.illumination
    assert light.dtype == np.float32
    assert 0.749 <= light.min() and light.max() <= 1.101
    assert light.max() - light.min() > 0.15
    assert np.abs(np.diff(light, axis=1)).max() < 0.01


def test_pallu_can_face_every_side_and_matches_rotation():
    sides = {}
    for seed in range(16):
        _, _, pt = _photo(seed)
        sides[pt.pallu_side] = pt.rotation_quarter_turns
    assert set(sides) == {"left", "right", "top", "bottom"}
    assert sides == {"right": 0, "bottom": 1, "left": 2, "top": 3}


def test_pallu_side_is_where_the_pallu_pixels_are():
    cloth, photo, pt = _photo(9, rotation=1)
    assert pt.pallu_side == "bottom"
    truth = pt.cloth
    if truth.pallu is None:
        pytest.skip("seed 9 has no pallu")
    expected, got = _means(cloth, photo, pt, truth.pallu)
    assert np.abs(got - expected).max() < 6.0
    _, body = _means(cloth, photo, pt, truth.body)
    assert np.abs(got - body).max() > 15.0
    ys, _ = np.nonzero(pt.mask)
    corners = np.asarray(pt.corners)
    assert (corners[1, 1] + corners[2, 1]) / 2 > ys.mean()  # pallu end below the centre


def test_overrides_and_bad_difficulty():
    _, _, pt = _photo(1, background="similar", rotation=2, jpeg_quality=85)
    assert pt.background == "similar" and pt.rotation_quarter_turns == 2 and pt.jpeg_quality == 85
    with pytest.raises(ValueError):
        _photo(1, difficulty="impossible")


def test_truth_json_excludes_arrays():
    _, _, pt = _photo(3)
    data = pt.model_dump(mode="json")
    assert "mask" not in data and "illumination" not in data
    assert len(data["corners"]) == 4 and data["cloth"]["size"] == [900, 200]


def test_large_photo_has_requested_megapixels():
    photo, pt = make_large_photo(0, megapixels=1.0)
    h, w = photo.shape[:2]
    assert abs(w * h - 1e6) < 0.02e6 and abs(w / h - 4 / 3) < 0.01
    assert COVERAGE_RANGE[0] <= pt.coverage <= COVERAGE_RANGE[1]


def test_hard_photos_have_fold_creases_that_leave_other_levels_alone():
    cloth, truth = make_cloth(21, size=(900, 200))
    creased, hard = make_photo(cloth, truth, 21, size=(600, 450), difficulty="hard")
    assert 1 <= hard.creases <= 3
    _, normal = make_photo(cloth, truth, 21, size=(600, 450), difficulty="normal")
    assert normal.creases == 0
    assert creased.shape == (450, 600, 3)


def test_a_crease_lights_one_flank_and_shades_the_other_at_its_fold():
    from sareeflow.synth.photo import CREASE_DEPTH, WRINKLE_DEPTH, _fold_shading

    shading = _fold_shading(np.random.default_rng(0), 1000, 200, creases=1)
    profile = shading.mean(axis=0)
    lo, hi = int(profile.argmin()), int(profile.argmax())
    assert abs((lo + hi) / 2 - 500) < 60  # the fold sits near the middle of the length
    assert abs(lo - hi) < 40  # the two flanks are next to each other
    assert profile.max() - profile.min() >= 2 * CREASE_DEPTH[0] - 2 * WRINKLE_DEPTH
    far = np.r_[profile[:300], profile[700:]]
    assert abs(float(far.mean()) - 1.0) < WRINKLE_DEPTH  # cloth away from folds keeps its colour
