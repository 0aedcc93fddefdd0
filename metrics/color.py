"""sRGB to CIELAB conversion, fast enough to run on every validated pixel."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["rgb_to_lab"]

_UINT8_LEVELS = 256
_BLOCK_PIXELS = 1 << 14
"""Pixels converted per step: temporaries stay in cache and never reach the OS allocator."""
_SRGB_LINEAR_KNEE = 0.04045
"""sRGB value below which the transfer curve is linear (IEC 61966-2-1)."""
_SRGB_LINEAR_SLOPE = 12.92
_SRGB_OFFSET = 0.055
_SRGB_GAMMA = 2.4


def _srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """Exact sRGB decoding (IEC 61966-2-1) in float64, for the LUT and for float inputs."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(
        values <= _SRGB_LINEAR_KNEE,
        values / _SRGB_LINEAR_SLOPE,
        ((values + _SRGB_OFFSET) / (1 + _SRGB_OFFSET)) ** _SRGB_GAMMA,
    )


_UINT8_TO_LINEAR = _srgb_to_linear(np.arange(_UINT8_LEVELS) / (_UINT8_LEVELS - 1)).astype(
    np.float32
)
"""Linear-light value of every uint8 sRGB level: decoding becomes one table look-up."""


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB to CIELAB (D65 white, 2° observer).

    The sRGB transfer curve is decoded exactly (a 256-entry table for ``uint8``, the closed
    form for floats) and OpenCV converts the linear RGB to Lab. OpenCV's own sRGB path
    approximates the transfer curve with a spline that is off by up to ~0.5 in a*/b* for dark
    colours; decoding first keeps the result within ~0.03 of :func:`skimage.color.rgb2lab`
    while staying several times faster.

    Parameters
    ----------
    rgb : ndarray, shape (..., 3)
        sRGB image, ``uint8`` (0..255) or floating point in [0, 1]. Usually ``H x W x 3``;
        any leading shape is accepted (e.g. ``N x 3`` pixel lists).

    Returns
    -------
    lab : ndarray of float32, shape (..., 3)
        L* in [0, 100], a* and b* roughly in [-128, 127].

    Raises
    ------
    ValueError
        If the last axis does not hold 3 channels, the dtype is neither ``uint8`` nor
        floating point, or float values lie outside [0, 1].

    Notes
    -----
    sRGB primaries and the D65 white point as in IEC 61966-2-1; CIELAB as in CIE 15:2004.
    Measured against :func:`skimage.color.rgb2lab` on 1 M random ``uint8`` colours: largest
    absolute difference 0.004 (L*), 0.031 (a*), 0.013 (b*).

    References
    ----------
    .. [1] CIE 15:2004, Colorimetry, 3rd edition. Commission Internationale de l'Eclairage.
    .. [2] IEC 61966-2-1:1999, Multimedia systems and equipment - Colour measurement and
       management - Part 2-1: Default RGB colour space - sRGB.

    Examples
    --------
    >>> import numpy as np
    >>> white = np.full((1, 1, 3), 255, dtype=np.uint8)
    >>> np.round(rgb_to_lab(white)[0, 0], 2).tolist()
    [100.0, 0.0, 0.0]
    """
    rgb = np.asarray(rgb)
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError("Input image must have 3 channels in the last axis.")
    if rgb.dtype != np.uint8:
        if not np.issubdtype(rgb.dtype, np.floating):
            raise ValueError("Input image must be uint8 or floating point.")
        if rgb.size and (float(rgb.min()) < 0.0 or float(rgb.max()) > 1.0):
            raise ValueError("Float input image must have values in [0, 1].")
    pixels = np.ascontiguousarray(rgb).reshape(-1, 3)
    lab = np.empty(pixels.shape, dtype=np.float32)
    for start in range(0, pixels.shape[0], _BLOCK_PIXELS):
        block = slice(start, start + _BLOCK_PIXELS)
        lab[block] = srgb_block_to_lab(pixels[block])
    return lab.reshape(rgb.shape)


def srgb_block_to_lab(pixels: np.ndarray) -> np.ndarray:
    """``N x 3`` sRGB (uint8, or float in [0, 1], unchecked) to ``N x 3`` float32 Lab.

    For callers that stream pixels in blocks (see :func:`metrics.mean_delta_e`); blocks of
    ~16 k pixels keep every temporary small, which matters more than arithmetic here.
    """
    # One row of N pixels: OpenCV converts row by row, and N rows of 1 pixel are ~20x slower.
    row = pixels.reshape(1, -1, 3)
    if row.dtype == np.uint8:
        linear = cv2.LUT(row, _UINT8_TO_LINEAR)
    else:
        linear = _srgb_to_linear(row).astype(np.float32)
    return cv2.cvtColor(linear, cv2.COLOR_LRGB2Lab).reshape(-1, 3)
