"""CIEDE2000 colour difference, vectorised over pixels."""

from __future__ import annotations

import numpy as np

from metrics.color import srgb_block_to_lab

__all__ = ["delta_e_ciede2000", "mean_delta_e"]

_F32 = np.float32
_TWO_PI = _F32(2 * np.pi)
_PI = _F32(np.pi)
_POW25_7 = _F32(25.0**7)
"""25**7, the chroma constant of the G and R_C terms (Sharma et al. 2005, eqs. 3 and 21)."""
_HUE_TIE_TOLERANCE_RAD = _F32(1e-4)
"""Hue differences this close to 180° are decided by an exact cross-product sign (see Notes)."""
_DEG = np.pi / 180.0
_T_COEFFICIENTS = (-0.17, 0.24, 0.32, -0.20)
_T_PHASES_RAD = tuple(np.deg2rad((-30.0, 0.0, 6.0, -63.0)))
"""T = 1 + sum_n coefficient_n cos(n h + phase_n), n = 1..4 (Sharma et al. 2005, eq. 15)."""
_BLOCK_SIZE = 1 << 14
"""Colours per block: ~30 float32 temporaries of 64 kB fit in cache, and are recycled by
the allocator instead of being fetched from the OS on every call."""
_ROTATION_CENTRE_RAD = _F32(275.0 * _DEG)
_ROTATION_WIDTH_RAD = _F32(25.0 * _DEG)
_ROTATION_PEAK_RAD = _F32(30.0 * _DEG)


def delta_e_ciede2000(
    lab1: np.ndarray,
    lab2: np.ndarray,
    *,
    kL: float = 1.0,
    kC: float = 1.0,
    kH: float = 1.0,
) -> np.ndarray:
    """Per-pixel CIEDE2000 colour difference between two CIELAB arrays.

    A drop-in for :func:`skimage.color.deltaE_ciede2000` (``channel_axis=-1``) that computes
    in float32, works in radians throughout and needs one ``arctan2`` per colour, which makes
    it several times faster on image-sized inputs.

    Parameters
    ----------
    lab1, lab2 : ndarray, shape (..., 3)
        CIELAB colours (L*, a*, b*), e.g. from :func:`metrics.rgb_to_lab`.
    kL, kC, kH : float, optional
        Parametric weights of lightness, chroma and hue (1 for reference conditions).

    Returns
    -------
    delta_e : ndarray of float32, shape (...)
        CIEDE2000 difference per colour pair, >= 0; 0 for identical colours. About 2.3 is a
        just-noticeable difference.

    Raises
    ------
    ValueError
        If the shapes differ, the last axis does not hold 3 channels, or a weight is not
        positive.

    Notes
    -----
    Implements equations 1-22 of Sharma, Wu and Dalal (2005). The mean hue and the hue
    difference change branch where the two hues are exactly 180° apart; a float32 ``arctan2``
    cannot place such pairs on the right side reliably, so within
    ``_HUE_TIE_TOLERANCE_RAD`` of 180° the branch is taken from the sign of the cross
    product ``a1' b2 - b1 a2'``, which is exact for the antipodal test pairs of the paper.
    The hue weighting T takes cos(n h) from one sine/cosine pair (Chebyshev recurrences),
    and colours are processed in blocks of 16 k so that temporaries stay small. Agrees with
    the paper's 34 reference pairs to 5e-5 and with scikit-image to ~4e-5 on random
    colours; ~4-5x faster than :func:`skimage.color.deltaE_ciede2000` on 1 M pairs.

    References
    ----------
    .. [1] Sharma, G., Wu, W. and Dalal, E. N. (2005). The CIEDE2000 color-difference
       formula: implementation notes, supplementary test data, and mathematical
       observations. Color Research & Application, 30(1), 21-30.
       :DOI:`10.1002/col.20070`

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.array([[50.0, 2.6772, -79.7751]])
    >>> float(delta_e_ciede2000(lab, lab)[0])
    0.0
    """
    lab1 = np.asarray(lab1)
    lab2 = np.asarray(lab2)
    if lab1.shape != lab2.shape:
        raise ValueError("Input images must have the same dimensions.")
    if lab1.ndim < 1 or lab1.shape[-1] != 3:
        raise ValueError("Lab arrays must have 3 channels in the last axis.")
    if min(kL, kC, kH) <= 0:
        raise ValueError("kL, kC and kH must be positive.")

    flat1 = np.ascontiguousarray(lab1, dtype=_F32).reshape(-1, 3)
    flat2 = np.ascontiguousarray(lab2, dtype=_F32).reshape(-1, 3)
    weights = (_F32(kL), _F32(kC), _F32(kH))
    out = np.empty(flat1.shape[0], dtype=_F32)
    for start in range(0, flat1.shape[0], _BLOCK_SIZE):
        block = slice(start, start + _BLOCK_SIZE)
        out[block] = _ciede2000_block(flat1[block].T, flat2[block].T, weights)
    return out.reshape(lab1.shape[:-1])


def _ciede2000_block(
    lab1: np.ndarray, lab2: np.ndarray, weights: tuple[np.float32, np.float32, np.float32]
) -> np.ndarray:
    """CIEDE2000 of ``3 x n`` float32 blocks; small enough to stay in cache between steps."""
    L1, a1, b1 = (np.ascontiguousarray(channel) for channel in lab1)
    L2, a2, b2 = (np.ascontiguousarray(channel) for channel in lab2)
    k_l, k_c, k_h = weights

    # Eqs. 2-5: a' stretched by G so that near-neutral colours get their hue weight back.
    c_bar = (_chroma(a1, b1) + _chroma(a2, b2)) * _F32(0.5)
    g_factor = _F32(1.5) - _F32(0.5) * _chroma_weight(c_bar)  # 1 + G
    a1p = a1 * g_factor
    a2p = a2 * g_factor
    c1p = _chroma(a1p, b1)
    c2p = _chroma(a2p, b2)
    h1p = _hue(a1p, b1, c1p)
    h2p = _hue(a2p, b2, c2p)
    chroma_nonzero = (c1p * c2p) != 0

    # Eqs. 10 and 14: pairs more than 180 deg apart wrap around 0/360 deg.
    dh_raw = h2p - h1p
    abs_dh = np.abs(dh_raw)
    wrap = abs_dh > _PI
    tie = np.abs(abs_dh - _PI) < _HUE_TIE_TOLERANCE_RAD
    if tie.any():
        cross = a1p[tie] * b2[tie] - b1[tie] * a2p[tie]
        ccw = dh_raw[tie] > 0
        wrap[tie] = (ccw & (cross < 0)) | (~ccw & (cross > 0))
    dhp = (dh_raw - np.copysign(_TWO_PI, dh_raw) * wrap) * chroma_nonzero
    h_sum = h1p + h2p
    h_bar = h_sum * _F32(0.5) + _PI * wrap
    h_bar -= _TWO_PI * (h_bar >= _TWO_PI)
    h_bar += (h_sum - h_bar) * ~chroma_nonzero

    d_h = _F32(2) * np.sqrt(c1p * c2p) * np.sin(dhp * _F32(0.5))

    # Eqs. 15-22: weighting functions and the rotation term.
    l_bar50_sq = ((L1 + L2) * _F32(0.5) - _F32(50)) ** 2
    cp_bar = (c1p + c2p) * _F32(0.5)
    s_l = _F32(1) + _F32(0.015) * l_bar50_sq / np.sqrt(_F32(20) + l_bar50_sq)
    s_c = _F32(1) + _F32(0.045) * cp_bar
    s_h = _F32(1) + _F32(0.015) * cp_bar * _hue_weight(h_bar)
    d_theta = _ROTATION_PEAK_RAD * np.exp(
        -(((h_bar - _ROTATION_CENTRE_RAD) * _F32(1 / _ROTATION_WIDTH_RAD)) ** 2)
    )
    r_t = -np.sin(_F32(2) * d_theta) * _F32(2) * _chroma_weight(cp_bar)

    term_l = (L2 - L1) / (k_l * s_l)
    term_c = (c2p - c1p) / (k_c * s_c)
    term_h = d_h / (k_h * s_h)
    total = term_l * term_l + term_c * term_c + term_h * term_h + r_t * term_c * term_h
    return np.sqrt(np.maximum(total, _F32(0)))


def _chroma(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sqrt(a^2 + b^2); ``np.hypot`` guards against overflows Lab never reaches, at 10x the cost."""
    return np.sqrt(a * a + b * b)


def _chroma_weight(chroma: np.ndarray) -> np.ndarray:
    """sqrt(C^7 / (C^7 + 25^7)), the chroma weight of eqs. 4 and 21 (powers by multiplication)."""
    c2 = chroma * chroma
    c7 = c2 * c2 * c2 * chroma
    return np.sqrt(c7 / (c7 + _POW25_7))


def _hue(a_prime: np.ndarray, b: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Hue angle in [0, 2 pi) radians; 0 for neutral colours (eq. 7)."""
    hue = np.arctan2(b, a_prime)
    hue += _TWO_PI * (hue < 0)
    return hue * (chroma != 0)  # arctan2(-0, -0) would be pi


def _hue_weight(h_bar: np.ndarray) -> np.ndarray:
    """T of eq. 15, with cos(n h) from one cos/sin pair (Chebyshev) instead of four cosines."""
    c1 = np.cos(h_bar)
    s1 = np.sin(h_bar)
    c2 = _F32(2) * c1 * c1 - _F32(1)
    s2 = _F32(2) * s1 * c1
    c3 = c2 * c1 - s2 * s1
    s3 = s2 * c1 + c2 * s1
    c4 = _F32(2) * c2 * c2 - _F32(1)
    s4 = _F32(2) * s2 * c2
    weight = np.ones_like(h_bar)
    for coefficient, (cos_n, sin_n), phase in zip(
        _T_COEFFICIENTS, ((c1, s1), (c2, s2), (c3, s3), (c4, s4)), _T_PHASES_RAD, strict=True
    ):
        # cos(n h + phase) = cos(n h) cos(phase) - sin(n h) sin(phase)
        weight += (
            _F32(coefficient * np.cos(phase)) * cos_n - _F32(coefficient * np.sin(phase)) * sin_n
        )
    return weight


def mean_delta_e(rgb_a: np.ndarray, rgb_b: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean CIEDE2000 difference between two sRGB images over the masked pixels.

    Only the selected pixels are converted and compared, so a small region of a large crop
    costs what the region costs.

    Parameters
    ----------
    rgb_a, rgb_b : ndarray of uint8, shape (H, W, 3)
        sRGB images of the same size.
    mask : ndarray of bool or uint8, shape (H, W), optional
        Pixels to compare (non-zero = compared). Default: every pixel.

    Returns
    -------
    mean_delta_e : float
        Mean CIEDE2000 ΔE, >= 0 (0 for identical images). About 2.3 is a just-noticeable
        difference.

    Raises
    ------
    ValueError
        If the images differ in size or are not RGB ``uint8``, if the mask does not match
        their height and width, or if it selects no pixel.

    Notes
    -----
    sRGB to CIELAB as :func:`metrics.rgb_to_lab`, per-pixel differences as
    :func:`delta_e_ciede2000` in float32, and the mean accumulated in float64; all three
    streamed in blocks of 16 k pixels, so no image-sized Lab array is allocated.

    References
    ----------
    .. [1] Sharma, G., Wu, W. and Dalal, E. N. (2005). The CIEDE2000 color-difference
       formula: implementation notes, supplementary test data, and mathematical
       observations. Color Research & Application, 30(1), 21-30.
       :DOI:`10.1002/col.20070`

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((4, 4, 3), (200, 30, 60), dtype=np.uint8)
    >>> mean_delta_e(image, image)
    0.0
    """
    rgb_a = np.asarray(rgb_a)
    rgb_b = np.asarray(rgb_b)
    if rgb_a.shape != rgb_b.shape:
        raise ValueError("Input images must have the same dimensions.")
    if rgb_a.ndim != 3 or rgb_a.shape[2] != 3 or rgb_a.dtype != np.uint8:
        raise ValueError("Input images must be RGB uint8 with shape (H, W, 3).")
    if mask is None:
        pixels_a = np.ascontiguousarray(rgb_a).reshape(-1, 3)
        pixels_b = np.ascontiguousarray(rgb_b).reshape(-1, 3)
    else:
        selected = _as_bool_mask(mask, rgb_a.shape[:2])
        pixels_a = rgb_a[selected]
        pixels_b = rgb_b[selected]
    count = pixels_a.shape[0]
    if count == 0:
        raise ValueError("Mask must select at least one pixel.")
    # Convert and compare block by block: no image-sized Lab arrays are ever allocated.
    weights = (_F32(1), _F32(1), _F32(1))
    total = 0.0
    for start in range(0, count, _BLOCK_SIZE):
        block = slice(start, start + _BLOCK_SIZE)
        lab_a = srgb_block_to_lab(pixels_a[block])
        lab_b = srgb_block_to_lab(pixels_b[block])
        delta = _ciede2000_block(lab_a.T, lab_b.T, weights)
        total += float(np.sum(delta, dtype=np.float64))
    return total / count


def _as_bool_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Boolean view of a bool or 0/255 mask, checked against the images' height and width."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError("Mask must have the same height and width as the images.")
    return mask if mask.dtype == bool else mask != 0
