"""structural_similarity: equality with scikit-image, masks, invariants and errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity as skimage_ssim

from metrics import structural_similarity


def textured(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Smooth random texture (uint8), so SSIM sits mid-range rather than near 0."""
    noise = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


def degraded(image: np.ndarray, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 15, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def reference(im1: np.ndarray, im2: np.ndarray, data_range: float, win_size: int) -> float:
    return skimage_ssim(
        im1,
        im2,
        data_range=data_range,
        win_size=win_size,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=-1 if im1.ndim == 3 else None,
    )


@pytest.mark.parametrize("channels", [None, 3])
@pytest.mark.parametrize("dtype", ["uint8", "float64"])
@pytest.mark.parametrize("win_size", [7, 11])
def test_equals_skimage_gaussian_ssim(channels: int | None, dtype: str, win_size: int) -> None:
    shape = (90, 120) if channels is None else (90, 120, channels)
    im1 = textured(shape)
    im2 = degraded(im1)
    data_range = 255.0
    if dtype == "float64":
        im1, im2, data_range = im1 / 255.0, im2 / 255.0, 1.0
    ours = structural_similarity(im1, im2, data_range=data_range, win_size=win_size)
    assert ours == pytest.approx(reference(im1, im2, data_range, win_size), abs=1e-5)
    assert 0.2 < ours < 0.95  # a mid-range value, so the comparison means something


def test_identical_images_score_one() -> None:
    image = textured((64, 80, 3))
    assert structural_similarity(image, image, data_range=255) == 1.0


def test_symmetric_and_drops_with_damage() -> None:
    image = textured((80, 80))
    light = degraded(image, seed=2)
    heavy = np.clip(image + np.random.default_rng(3).normal(0, 60, image.shape), 0, 255)
    heavy = heavy.astype(np.uint8)
    forward = structural_similarity(image, light, data_range=255)
    assert forward == pytest.approx(structural_similarity(light, image, data_range=255), abs=1e-6)
    assert structural_similarity(image, heavy, data_range=255) < forward < 1.0


def test_full_mask_equals_unmasked() -> None:
    im1 = textured((70, 90, 3), seed=4)
    im2 = degraded(im1, seed=5)
    full = np.ones((70, 90), dtype=bool)
    assert structural_similarity(im1, im2, data_range=255, mask=full) == pytest.approx(
        structural_similarity(im1, im2, data_range=255), abs=1e-9
    )


@pytest.mark.parametrize("mask_dtype", [bool, np.uint8])
def test_mask_ignores_damage_outside_it(mask_dtype: type) -> None:
    image = textured((120, 160, 3), seed=6)
    mask = np.zeros((120, 160), dtype=np.uint8)
    cv2.circle(mask, (60, 60), 40, 255, -1)
    given = mask.astype(bool) if mask_dtype is bool else mask
    damaged = image.copy()
    damaged[:, 115:] = 0  # more than the Gaussian reach (5 px) beyond the circle's edge
    assert structural_similarity(image, damaged, data_range=255, mask=given) == 1.0
    damaged[50:70, 50:70] = 0
    assert structural_similarity(image, damaged, data_range=255, mask=given) < 0.9


def test_masked_score_matches_map_average() -> None:
    """With a mask the score is the mean of the full SSIM map over the eroded mask."""
    im1 = textured((60, 60), seed=7)
    im2 = degraded(im1, seed=8)
    mask = np.zeros((60, 60), dtype=np.uint8)
    mask[10:50, 15:45] = 1
    _, ssim_map = skimage_ssim(
        im1, im2, data_range=255, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, full=True,
    )  # fmt: skip
    inner = ssim_map[13:47, 18:42]  # the mask eroded by the 7 x 7 window's radius
    ours = structural_similarity(im1, im2, data_range=255, mask=mask, win_size=7)
    assert ours == pytest.approx(float(inner.mean()), abs=1e-5)


def test_mask_thinner_than_window_uses_the_whole_mask() -> None:
    im1 = textured((40, 40), seed=9)
    im2 = degraded(im1, seed=10)
    line = np.zeros((40, 40), dtype=bool)
    line[20, 5:35] = True  # 1 px high: erosion leaves nothing
    score = structural_similarity(im1, im2, data_range=255, mask=line)
    assert -1.0 <= score < 1.0


@pytest.mark.parametrize(
    ("im1", "im2", "kwargs", "message"),
    [
        (np.zeros((20, 20)), np.zeros((20, 21)), {}, "same dimensions"),
        (np.zeros(20), np.zeros(20), {}, r"2-D \(H, W\) or 3-D"),
        (np.zeros((20, 20)), np.zeros((20, 20)), {"data_range": 0}, "data_range must be positive"),
        (np.zeros((20, 20)), np.zeros((20, 20)), {"win_size": 6}, "odd integer >= 3"),
        (np.zeros((20, 20)), np.zeros((20, 20)), {"win_size": 1}, "odd integer >= 3"),
        (np.zeros((5, 20)), np.zeros((5, 20)), {}, "exceeds image extent"),
        (
            np.zeros((20, 20)),
            np.zeros((20, 20)),
            {"mask": np.ones((20, 19), bool)},
            "Mask must have the same",
        ),
        (
            np.zeros((20, 20)),
            np.zeros((20, 20)),
            {"mask": np.zeros((20, 20), bool)},
            "at least one pixel",
        ),
    ],
)
def test_invalid_input(im1, im2, kwargs, message) -> None:
    kwargs = {"data_range": 255, **kwargs}
    with pytest.raises(ValueError, match=message):
        structural_similarity(im1, im2, **kwargs)
