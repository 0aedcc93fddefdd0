"""delta_e_ciede2000 against the published reference pairs; mean_delta_e on images."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from metrics import delta_e_ciede2000, mean_delta_e

# The 34 test pairs (L1, a1, b1, L2, a2, b2, ΔE00) of Table 1 in G. Sharma, W. Wu and
# E. N. Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Color Research & Application
# 30(1), 21-30, DOI 10.1002/col.20070. Pairs 7-16 sit on the hue-angle discontinuities.
SHARMA_2005 = np.array(
    [
        [50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425],
        [50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615],
        [50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412],
        [50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000],
        [50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000],
        [50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000],
        [50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669],
        [50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461],
        [50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065],
        [50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492],
        [50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977],
        [50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030],
        [50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000],
        [60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644],
        [63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630],
        [61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731],
        [35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645],
        [22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373],
        [36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146],
        [90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441],
        [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
        [6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377],
        [2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082],
    ]
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sharma_2005_reference_pairs(dtype: type) -> None:
    lab1 = SHARMA_2005[:, 0:3].astype(dtype)
    lab2 = SHARMA_2005[:, 3:6].astype(dtype)
    np.testing.assert_allclose(delta_e_ciede2000(lab1, lab2), SHARMA_2005[:, 6], atol=1e-4)
    np.testing.assert_allclose(delta_e_ciede2000(lab2, lab1), SHARMA_2005[:, 6], atol=1e-4)


def random_lab(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack(
        [rng.uniform(0, 100, shape), rng.uniform(-100, 100, shape), rng.uniform(-100, 100, shape)],
        axis=-1,
    )


def test_agrees_with_skimage_on_image_sized_input() -> None:
    lab1 = random_lab((180, 200), seed=0)  # 36 k colours: spans several internal blocks
    lab2 = lab1 + np.random.default_rng(1).normal(0, 6, lab1.shape)
    ours = delta_e_ciede2000(lab1, lab2)
    assert ours.shape == (180, 200)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, deltaE_ciede2000(lab1, lab2), atol=1e-3)


def test_identical_colours_are_zero_and_order_does_not_matter() -> None:
    lab1 = random_lab((64, 64), seed=2)
    lab2 = random_lab((64, 64), seed=3)
    assert np.all(delta_e_ciede2000(lab1, lab1) == 0)
    np.testing.assert_allclose(
        delta_e_ciede2000(lab1, lab2), delta_e_ciede2000(lab2, lab1), atol=1e-4
    )


def test_parametric_lightness_weight() -> None:
    lab1 = np.array([[40.0, 0.0, 0.0]])
    lab2 = np.array([[60.0, 0.0, 0.0]])
    unweighted = delta_e_ciede2000(lab1, lab2)[0]
    assert delta_e_ciede2000(lab1, lab2, kL=2.0)[0] == pytest.approx(unweighted / 2, rel=1e-6)
    # kC and kH do not touch a pure lightness difference.
    assert delta_e_ciede2000(lab1, lab2, kC=3.0, kH=3.0)[0] == pytest.approx(unweighted)


@pytest.mark.parametrize(
    ("lab1", "lab2", "kwargs", "message"),
    [
        (np.zeros((4, 3)), np.zeros((5, 3)), {}, "same dimensions"),
        (np.zeros((4, 2)), np.zeros((4, 2)), {}, "3 channels in the last axis"),
        (np.zeros((4, 3)), np.zeros((4, 3)), {"kL": 0.0}, "must be positive"),
        (np.zeros((4, 3)), np.zeros((4, 3)), {"kH": -1.0}, "must be positive"),
    ],
)
def test_delta_e_invalid_input(lab1, lab2, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        delta_e_ciede2000(lab1, lab2, **kwargs)


# ---------------------------------------------------------------- mean_delta_e


def cloth(shape: tuple[int, int] = (160, 150), seed: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 236, shape + (3,), dtype=np.uint8)


def reference_mean(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The same quantity with scikit-image, in float64."""
    delta = deltaE_ciede2000(rgb2lab(a), rgb2lab(b))
    return float(delta.mean() if mask is None else delta[mask].mean())


def test_mean_delta_e_identity() -> None:
    image = cloth()
    assert mean_delta_e(image, image) == 0.0


def test_mean_delta_e_matches_skimage_for_a_colour_shift() -> None:
    image = cloth()
    shifted = np.clip(image.astype(int) + (12, -6, 4), 0, 255).astype(np.uint8)
    ours = mean_delta_e(image, shifted)
    assert ours == pytest.approx(reference_mean(image, shifted), abs=0.02)
    assert ours > 3.0  # a visible shift, well above the 2.3 JND


@pytest.mark.parametrize("mask_dtype", [bool, np.uint8])
def test_mean_delta_e_only_looks_inside_the_mask(mask_dtype: type) -> None:
    image = cloth()
    damaged = image.copy()
    damaged[:, 100:] = (0, 255, 0)  # outside the mask below
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[20:140, 10:90] = True
    given = mask if mask_dtype is bool else mask.astype(np.uint8) * 255
    assert mean_delta_e(image, damaged, mask=given) == 0.0
    damaged[60:80, 40:60] = (255, 0, 255)  # inside
    assert mean_delta_e(image, damaged, mask=given) == pytest.approx(
        reference_mean(image, damaged, mask), abs=0.05
    )


@pytest.mark.parametrize(
    ("a", "b", "mask", "message"),
    [
        (cloth((10, 10)), cloth((10, 12)), None, "same dimensions"),
        (cloth((10, 10))[..., 0], cloth((10, 10))[..., 0], None, r"RGB uint8 with shape"),
        (cloth((10, 10)).astype(float), cloth((10, 10)).astype(float), None, "RGB uint8"),
        (cloth((10, 10)), cloth((10, 10)), np.ones((10, 11), bool), "Mask must have the same"),
        (cloth((10, 10)), cloth((10, 10)), np.zeros((10, 10), bool), "at least one pixel"),
    ],
)
def test_mean_delta_e_invalid_input(a, b, mask, message) -> None:
    with pytest.raises(ValueError, match=message):
        mean_delta_e(a, b, mask=mask)
