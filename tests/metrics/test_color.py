"""rgb_to_lab: agreement with scikit-image, identity values, dtypes and errors."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from skimage.color import rgb2lab

from metrics import rgb_to_lab

# Largest |difference| to skimage.color.rgb2lab measured on 1 M random uint8 colours:
# 0.004 (L*), 0.031 (a*), 0.013 (b*). OpenCV's own sRGB path would be off by ~0.5.
MAX_ABS_DIFF_TO_SKIMAGE = 0.05


def random_colours(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 3), dtype=np.uint8)


def every_grey_and_primary_ramp() -> np.ndarray:
    """All 256 greys and the dark ramps of each primary, where the sRGB curve is linear."""
    levels = np.arange(256, dtype=np.uint8)
    zeros = np.zeros_like(levels)
    return np.concatenate(
        [
            np.stack([levels, levels, levels], 1),
            np.stack([levels, zeros, zeros], 1),
            np.stack([zeros, levels, zeros], 1),
            np.stack([zeros, zeros, levels], 1),
        ]
    )


@pytest.mark.parametrize("colours", [random_colours(200_000), every_grey_and_primary_ramp()])
def test_agrees_with_skimage_rgb2lab(colours: np.ndarray) -> None:
    image = colours.reshape(-1, 1, 3)
    ours = rgb_to_lab(image)
    reference = rgb2lab(image)
    assert ours.dtype == np.float32
    assert np.abs(ours - reference).max() < MAX_ABS_DIFF_TO_SKIMAGE


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_input_matches_uint8(dtype: type) -> None:
    colours = random_colours(5000, seed=1).reshape(50, 100, 3)
    as_float = (colours / 255.0).astype(dtype)
    np.testing.assert_allclose(rgb_to_lab(as_float), rgb_to_lab(colours), atol=2e-3)


def test_identity_values() -> None:
    white = np.full((2, 2, 3), 255, np.uint8)
    black = np.zeros((2, 2, 3), np.uint8)
    np.testing.assert_allclose(rgb_to_lab(white), np.tile([100.0, 0.0, 0.0], (2, 2, 1)), atol=1e-3)
    np.testing.assert_allclose(rgb_to_lab(black), 0.0, atol=1e-4)


@pytest.mark.parametrize("shape", [(7, 3), (5, 9, 3), (300, 200, 3)])
def test_shape_is_kept(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    lab = rgb_to_lab(image)
    assert lab.shape == shape
    # Block boundaries (16 k pixels) must not show: every pixel converts on its own.
    np.testing.assert_array_equal(lab.reshape(-1, 3), rgb_to_lab(image.reshape(-1, 3)))


def test_empty_input() -> None:
    assert rgb_to_lab(np.zeros((0, 3), np.uint8)).shape == (0, 3)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4), np.uint8), "3 channels in the last axis"),
        (np.zeros((4, 4, 4), np.uint8), "3 channels in the last axis"),
        (np.zeros((4, 4, 3), np.int32), "uint8 or floating point"),
        (np.full((4, 4, 3), 1.5), r"values in \[0, 1\]"),
        (np.full((4, 4, 3), -0.1, np.float32), r"values in \[0, 1\]"),
    ],
)
def test_invalid_input(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rgb_to_lab(image)


@pytest.mark.parametrize(
    "module",
    ["metrics.color", "metrics.delta_e", "metrics.ssim", "metrics.pattern", "metrics.border"],
)
def test_docstring_examples(module: str) -> None:
    """The identity-value examples in the metric docstrings run and hold."""
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
