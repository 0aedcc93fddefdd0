"""Generated sarees: deterministic, varied, and their truth rectangles match the pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sareeflow.synth.cloth import ClothStyle, make_cloth, random_style, rgb_to_lab

SEEDS = range(12)
NEAR_DE = 12.0
"""ΔE76 within which a pixel counts as 'the body ground colour' (weave noise is ≤ 5 levels)."""


def _lab(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _crop(img: np.ndarray, rect) -> np.ndarray:
    x, y, w, h = rect
    return img[y : y + h, x : x + w]


def _near_fraction(img: np.ndarray, rect, color) -> float:
    """Fraction of the rect's pixels within NEAR_DE of ``color``."""
    lab = _lab(_crop(img, rect)).reshape(-1, 3)
    return float((np.linalg.norm(lab - rgb_to_lab(color), axis=1) < NEAR_DE).mean())


def test_same_seed_gives_identical_bytes_and_other_seeds_differ():
    a, ta = make_cloth(7)
    b, tb = make_cloth(7)
    c, _ = make_cloth(8)
    assert a.tobytes() == b.tobytes()
    assert ta == tb
    assert a.shape == c.shape and a.tobytes() != c.tobytes()


def test_image_format_and_size():
    img, truth = make_cloth(3, size=(900, 250))
    assert img.dtype == np.uint8 and img.shape == (250, 900, 3)
    assert truth.size == (900, 250)


@pytest.mark.parametrize("seed", SEEDS)
def test_rects_tile_the_cloth_without_overlap(seed):
    img, truth = make_cloth(seed)
    h, w = img.shape[:2]
    cover = np.zeros((h, w), np.int32)
    for rect in (truth.body, truth.border_top, truth.border_bottom, truth.pallu):
        if rect is not None:
            x, y, rw, rh = rect
            assert rw > 0 and rh > 0 and x >= 0 and y >= 0 and x + rw <= w and y + rh <= h
            cover[y : y + rh, x : x + rw] += 1
    assert (cover == 1).all()
    if truth.border_top is not None:
        assert truth.border_top[1] == 0 and truth.border_top[2] == w
        assert 0.035 * h <= truth.border_top[3] <= 0.145 * h
    if truth.border_bottom is not None:
        assert sum(truth.border_bottom[1::2]) == h
    if truth.pallu is not None:
        assert truth.pallu[0] + truth.pallu[2] == w  # at the right end
        assert 0.145 * w <= truth.pallu[2] <= 0.255 * w


@pytest.mark.parametrize("seed", SEEDS)
def test_truth_matches_pixels(seed):
    """The body ground colour dominates the body and is rare in the border and pallu."""
    img, truth = make_cloth(seed)
    body = truth.style.body_color
    assert _near_fraction(img, truth.body, body) > 0.4
    for rect in (truth.border_top, truth.border_bottom, truth.pallu):
        if rect is not None:
            assert _near_fraction(img, rect, body) < 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_no_region_is_perfectly_flat(seed):
    img, truth = make_cloth(seed)
    for rect in (truth.body, truth.border_top, truth.border_bottom, truth.pallu):
        if rect is not None:
            x, y, w, h = rect
            patch = img[y : y + min(h, 8), x : x + min(w, 8)].astype(np.float32)
            assert patch.std() > 0.5


def test_variety_across_seeds():
    styles = [random_style(np.random.default_rng(s)) for s in range(80)]
    assert len({s.body_family for s in styles}) == 4
    assert len({s.body_motif for s in styles}) == 6
    assert len({s.border_style for s in styles}) == 3
    assert len({s.pallu_design for s in styles}) == 3
    assert {s.has_border for s in styles} == {True, False}
    assert {s.has_pallu for s in styles} == {True, False}
    assert len({s.body_color for s in styles}) == 80
    lightness = [rgb_to_lab(s.body_color)[0] for s in styles]
    assert min(lightness) < 30 and max(lightness) > 85  # dark and near-white bodies both occur


def _style(**changes) -> ClothStyle:
    return random_style(np.random.default_rng(5)).model_copy(update=changes)


def test_absent_border_gives_body_to_the_edges():
    style = _style(has_border=False, border_top_frac=0.0, border_bottom_frac=0.0, has_pallu=True)
    img, truth = make_cloth(5, style=style)
    assert truth.border_top is None and truth.border_bottom is None
    assert truth.body[1] == 0 and truth.body[3] == img.shape[0]
    assert truth.pallu is not None and truth.pallu[3] == img.shape[0]
    edge_rows = (0, 0, truth.body[2], 6)
    assert _near_fraction(img, edge_rows, style.body_color) > 0.4


def test_absent_pallu_gives_body_the_full_length():
    style = _style(has_pallu=False, pallu_frac=0.0, has_border=True, border_top_frac=0.08)
    img, truth = make_cloth(5, style=style)
    assert truth.pallu is None
    assert truth.body[0] == 0 and truth.body[2] == img.shape[1]
    x, y, w, h = truth.body
    right_end = (w - 60, y, 60, h)
    assert _near_fraction(img, right_end, style.body_color) > 0.4


def test_given_style_is_used():
    style = _style(body_color=(120, 20, 40))
    _, truth = make_cloth(11, style=style)
    assert truth.style == style


def test_too_small_raises():
    with pytest.raises(ValueError):
        make_cloth(0, size=(4, 4))
