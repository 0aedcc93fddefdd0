"""Border continuity: is the border band still there, unbroken and where it should be?"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import scipy.fft
from pydantic import BaseModel, Field

from metrics.color import rgb_to_lab
from metrics.delta_e import delta_e_ciede2000

__all__ = ["BorderContinuity", "border_continuity"]

_F32 = np.float32
_SAMPLE_STEP_PX = 1.0
"""Distance between profile samples along the path."""
_TANGENT_SMOOTHING_PX = 4.0
"""Gaussian sigma (along the path) of the tangent, so polyline corners do not flip normals."""
_MIN_CONTEXT_PX = 4.0
"""Cloth on each side of the band included in a profile: the band's edges pin its position."""
_MIN_SEARCH_PX = 8.0
"""Largest sideways displacement searched (at least this, or half the band width)."""
_ALONG_PATH_AVERAGE_PX = 5
"""Profiles are averaged over this many samples along the path against noise and JPEG."""
_INTACT_CORRELATION = 0.6
"""A sample is intact when its best-aligned profiles correlate at least this much (Pearson
over the profile's pixels and channels; shading, a gain, leaves it unchanged)."""
_OFFSET_PRIOR = 0.02
"""Correlation given up per pixel of offset when choosing the best alignment, so that on a
striped border equal peaks resolve to the smaller displacement..."""
_OFFSET_PRIOR_WIDTHS = 0.5
"""...but at most this much per band width of offset: a wide band's correlation peak is as
wide as its stripes, and 0.02 per px hid a 4 px bend of a 120 px band (its correlation rose
from 0.96 to 0.998 at the true offset, less than the 0.08 the prior took)."""
_FLAT_PROFILE_RMS = 3.0
"""Grey levels: an expected profile flatter than this has no structure to correlate..."""
_FLAT_CHROMATICITY_TOLERANCE = 0.03
"""...and is intact when its mean chromaticity (r, g of rgb / sum) is this close."""
_NOISE_VARIANCE = 4.0
"""Grey levels^2 added to profile variances: an almost flat output does not correlate."""
_MIN_BREAK_PX = 3.0
"""Broken runs shorter than this along the path are flicker, not breaks."""
_OFFSET_MEDIAN_PX = 9
"""Median filter (samples) over offsets before taking the largest: one bad alignment is not
a bent border."""
_OFFSET_DECIMALS = 2
"""Offsets are reported to 1/100 px: below that the float32 correlation's rounding, not
the cloth, decides the digits."""
_MIN_VALID_FRACTION = 0.5
"""A sample counts only if this share of its expected profile lies inside image and mask."""


class BorderContinuity(BaseModel):
    """How well a border band in an output matches the expected one along its path."""

    continuity: float = Field(
        ge=0, le=1, description="Share of path samples where the band is intact (0..1)."
    )
    breaks: int = Field(ge=0, description="Number of contiguous broken runs along the path.")
    max_offset_px: float = Field(
        ge=0, description="Largest sideways displacement of the intact band (px)."
    )
    mean_delta_e: float = Field(
        ge=0, description="Mean CIEDE2000 between output and expected band pixels."
    )


def border_continuity(
    output: np.ndarray,
    expected: np.ndarray,
    path: Sequence[tuple[float, float]],
    *,
    width: float,
    mask: np.ndarray | None = None,
) -> BorderContinuity:
    """Compare a border band of ``output`` with the same band of ``expected`` along its path.

    The band is straightened: at every pixel of its centre line the two images are sampled
    across the band (``cv2.remap``), giving one cross-profile per sample. Each output
    profile is slid sideways against the expected one; where they correlate the band is
    intact and the best slide is its displacement.

    Parameters
    ----------
    output, expected : ndarray of uint8, shape (H, W, 3)
        RGB crops of the same size: what was generated and what should be there.
    path : sequence of (x, y)
        Centre line of the band in the crops' pixel coordinates, at least 2 points.
    width : float
        Band width in px (> 0).
    mask : ndarray of bool or uint8, shape (H, W), optional
        Where ``expected`` is meaningful (non-zero); profile pixels outside it are ignored.
        Default: everywhere.

    Returns
    -------
    result : BorderContinuity
        ``continuity`` in [0, 1] (1 = intact along the whole path), ``breaks`` >= 0,
        ``max_offset_px`` >= 0 and ``mean_delta_e`` >= 0 (0 for identical crops).

    Raises
    ------
    ValueError
        If the crops differ in size or are not RGB ``uint8``, the path has fewer than 2
        points or no length, ``width`` is not positive, the mask does not match the crops,
        or no part of the band lies inside crop and mask.

    Notes
    -----
    Profiles span the band plus ``max(4, width / 4)`` px of context on each side (the
    band's edges are what fixes its position); output profiles are longer by the search
    range ``max(8, width / 2)`` px on each side. Both are averaged over 5 px along the path.
    For every sample and slide the Pearson correlation of the two profiles (over pixels and
    RGB channels, each channel centred, weighted by the mask) is computed at once by FFT
    (normalised cross-correlation, Lewis 1995). A sample is *intact* when its best slide
    reaches 0.6; fold shading multiplies a profile and leaves the correlation unchanged.
    The best slide is chosen with a small cost per pixel of offset (0.02, at most 0.5 per
    band width), so that equal peaks of a striped band resolve to the smaller displacement.
    Where the expected profile is flat (nothing to correlate), the mean chromaticity must
    match instead. ``breaks`` counts runs of non-intact samples at least 3 px long.
    ``max_offset_px`` is the largest displacement of intact samples (parabolic sub-pixel
    peak, median of 9 along the path, reported to 0.01 px). ``mean_delta_e`` is the mean
    CIEDE2000 over the band's pixels (``|t| <= width / 2``) of the along-path averaged
    profiles: output profiles at their best slide where intact, unmoved elsewhere.

    References
    ----------
    .. [1] Lewis, J. P. (1995). Fast normalized cross-correlation. Vision Interface 95,
       120-123.
    .. [2] Sharma, G., Wu, W. and Dalal, E. N. (2005). The CIEDE2000 color-difference
       formula: implementation notes, supplementary test data, and mathematical
       observations. Color Research & Application, 30(1), 21-30.
       :DOI:`10.1002/col.20070`

    Examples
    --------
    >>> import numpy as np
    >>> crop = np.full((40, 120, 3), 200, dtype=np.uint8)
    >>> crop[15:25] = (150, 20, 40)
    >>> result = border_continuity(crop, crop, [(5.0, 20.0), (115.0, 20.0)], width=10.0)
    >>> result.continuity, result.breaks, result.max_offset_px, result.mean_delta_e
    (1.0, 0, 0.0, 0.0)
    """
    output = np.asarray(output)
    expected = np.asarray(expected)
    if output.shape != expected.shape:
        raise ValueError("Input images must have the same dimensions.")
    if not all(
        image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
        for image in (output, expected)
    ):
        raise ValueError("Input images must be RGB uint8 with shape (H, W, 3).")
    if not width > 0:
        raise ValueError("width must be positive.")
    points = np.asarray(path, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 2:
        raise ValueError("Path must hold at least 2 (x, y) points.")
    height, image_width = output.shape[:2]
    if mask is None:
        region = np.full((height, image_width), 255, np.uint8)
    else:
        mask = np.asarray(mask)
        if mask.shape != (height, image_width):
            raise ValueError("Mask must have the same height and width as the images.")
        region = np.where(mask != 0, 255, 0).astype(np.uint8)

    centres, normals = _resample_path(points)
    half = width / 2.0
    reach = half + max(_MIN_CONTEXT_PX, width / 4.0)
    search = int(np.ceil(max(_MIN_SEARCH_PX, half)))
    offsets = np.arange(-np.ceil(reach), np.ceil(reach) + 1, dtype=np.float64)
    wide_offsets = np.arange(offsets[0] - search, offsets[-1] + search + 1, dtype=np.float64)

    expected_strip, valid = _straighten(expected, region, centres, normals, offsets)
    output_strip, _ = _straighten(output, None, centres, normals, wide_offsets)
    sample_valid = valid.mean(axis=1) >= _MIN_VALID_FRACTION
    if not sample_valid.any():
        raise ValueError("No part of the band lies inside the images and the mask.")

    expected_mean = _along_path_mean(expected_strip)
    output_mean = _along_path_mean(output_strip)
    correlation = _sliding_correlation(expected_mean, output_mean, valid, search)
    shifts = np.arange(-search, search + 1, dtype=np.float64)
    prior = min(_OFFSET_PRIOR, _OFFSET_PRIOR_WIDTHS / width)
    choice = correlation - prior * np.abs(shifts)[None, :]
    best = np.argmax(choice, axis=1)
    best_correlation = correlation[np.arange(best.size), best]
    offset = shifts[best] + _parabolic_peak(correlation, best)

    intact = best_correlation >= _INTACT_CORRELATION
    flat = _flat_profiles(expected_strip, valid)
    if flat.any():
        intact[flat] = _chromaticity_matches(
            expected_strip[flat], output_strip[flat][:, search:-search], valid[flat]
        )
        offset[flat] = 0.0
    intact &= sample_valid

    samples = np.flatnonzero(sample_valid)
    continuity = float(np.count_nonzero(intact[samples]) / samples.size)
    breaks = _count_breaks(intact[samples])
    max_offset = _max_offset(offset[samples], intact[samples])

    core = np.abs(offsets) <= half
    aligned = np.where(intact, np.rint(offset), 0).astype(np.intp)
    delta_e = _band_delta_e(expected_mean, output_mean, aligned, core, valid, sample_valid, search)
    return BorderContinuity(
        continuity=continuity,
        breaks=breaks,
        max_offset_px=max_offset,
        mean_delta_e=delta_e,
    )


def _resample_path(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``_SAMPLE_STEP_PX`` along the polyline, and unit normals (left of travel)."""
    steps = np.hypot(*np.diff(points, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    length = float(arc[-1])
    if not length > 0:
        raise ValueError("Path must have a positive length.")
    count = max(2, int(np.floor(length / _SAMPLE_STEP_PX)) + 1)
    along = np.linspace(0.0, length, count)
    centres = np.stack(
        [np.interp(along, arc, points[:, 0]), np.interp(along, arc, points[:, 1])], 1
    )
    tangent = np.gradient(centres, axis=0)
    sigma = _TANGENT_SMOOTHING_PX / _SAMPLE_STEP_PX
    smoothed = cv2.GaussianBlur(
        tangent.reshape(-1, 1, 2), (1, 0), sigmaX=0, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE
    ).reshape(-1, 2)
    norm = np.maximum(np.hypot(smoothed[:, 0], smoothed[:, 1]), 1e-12)[:, None]
    unit = smoothed / norm
    normals = np.stack([-unit[:, 1], unit[:, 0]], axis=1)
    return centres, normals


def _straighten(
    image: np.ndarray,
    region: np.ndarray | None,
    centres: np.ndarray,
    normals: np.ndarray,
    offsets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``image`` across the path: ``samples x offsets x 3`` float32, and a validity
    map (inside the image and, if given, the region)."""
    map_x = (centres[:, 0:1] + offsets[None, :] * normals[:, 0:1]).astype(_F32)
    map_y = (centres[:, 1:2] + offsets[None, :] * normals[:, 1:2]).astype(_F32)
    strip = cv2.remap(
        image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    ).astype(_F32)
    height, width = image.shape[:2]
    valid = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    if region is not None:
        inside = cv2.remap(region, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
        valid &= inside > 0
    return strip, valid


def _along_path_mean(strip: np.ndarray) -> np.ndarray:
    """Average each profile with its neighbours along the path (box of 5 samples)."""
    samples, length, channels = strip.shape
    flat = strip.reshape(samples, length * channels)
    smoothed = cv2.blur(flat, (1, _ALONG_PATH_AVERAGE_PX), borderType=cv2.BORDER_REPLICATE)
    return smoothed.reshape(samples, length, channels)


def _sliding_correlation(
    expected: np.ndarray, output: np.ndarray, valid: np.ndarray, search: int
) -> np.ndarray:
    """Weighted Pearson correlation of each expected profile with the output profile slid by
    ``-search .. search`` px: ``samples x (2 search + 1)``.

    Channels are centred separately (a gain per channel, i.e. shading, cancels) and pooled
    in one correlation. The three sliding sums it needs (cross term, window sum, window sum
    of squares) are correlations along the profile, done by FFT in float32 (profiles are
    centred first, so the variances keep ~5 significant digits).
    """
    slides = 2 * search + 1
    size = scipy.fft.next_fast_len(output.shape[1], real=True)
    weight = valid.astype(_F32)  # samples x length
    count = np.maximum(weight.sum(axis=1), _F32(1))  # samples
    # Channels first, so that every FFT runs along the last, contiguous axis.
    expected = np.ascontiguousarray(expected.transpose(0, 2, 1))  # samples x 3 x length
    output = np.ascontiguousarray(output.transpose(0, 2, 1))  # samples x 3 x (length + 2 s)
    mean_e = np.einsum("icj,ij->ic", expected, weight) / count[:, None]
    centred_e = (expected - mean_e[..., None]) * weight[:, None, :]
    var_e = np.einsum("icj,icj->i", centred_e, centred_e) + _NOISE_VARIANCE * count
    # Centring the output per sample changes no correlation but keeps the sums small.
    output -= output.mean(axis=2, keepdims=True)

    def spectrum(values: np.ndarray) -> np.ndarray:
        return scipy.fft.rfft(values, size, axis=-1)

    def slid(product: np.ndarray) -> np.ndarray:
        """Back from a cross-spectrum: the correlation at slides 0 .. 2 search."""
        return scipy.fft.irfft(product, size, axis=-1)[..., :slides]

    output_spectrum = spectrum(output)
    weight_spectrum = np.conj(spectrum(weight))
    covariance = slid(np.sum(np.conj(spectrum(centred_e)) * output_spectrum, axis=1))
    sums = slid(weight_spectrum[:, None, :] * output_spectrum)  # samples x 3 x slides
    sum_squares = slid(weight_spectrum * spectrum(np.sum(output * output, axis=1)))
    var_o = sum_squares - np.sum(sums * sums, axis=1) / count[:, None]
    var_o = np.maximum(var_o, 0) + _NOISE_VARIANCE * count[:, None]
    return (covariance / np.sqrt(var_e[:, None] * var_o)).astype(_F32)


def _parabolic_peak(scores: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Sub-pixel position of each row's peak from a parabola through it and its neighbours."""
    rows = np.arange(best.size)
    inner = (best > 0) & (best < scores.shape[1] - 1)
    left = scores[rows, np.maximum(best - 1, 0)]
    centre = scores[rows, best]
    right = scores[rows, np.minimum(best + 1, scores.shape[1] - 1)]
    curvature = left - 2 * centre + right
    shift = np.where(
        inner & (curvature < 0), 0.5 * (left - right) / np.where(curvature < 0, curvature, -1), 0
    )
    return np.clip(shift, -0.5, 0.5).astype(np.float64)


def _flat_profiles(strip: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Samples whose expected profile has no structure to correlate (RMS < 3 grey levels)."""
    weight = valid.astype(_F32)[..., None]
    count = np.maximum(weight.sum(axis=1), _F32(1))
    mean = (strip * weight).sum(axis=1) / count
    variance = (((strip - mean[:, None, :]) ** 2) * weight).sum(axis=(1, 2)) / (3 * count[:, 0])
    return variance < _FLAT_PROFILE_RMS**2


def _chromaticity_matches(
    expected: np.ndarray, output: np.ndarray, valid: np.ndarray
) -> np.ndarray:
    """Whether the mean (r, g) chromaticity of flat profiles agrees (shading-invariant)."""
    weight = valid.astype(_F32)[..., None]
    count = np.maximum(weight.sum(axis=1), _F32(1))
    mean_e = (expected * weight).sum(axis=1) / count
    mean_o = (output * weight).sum(axis=1) / count
    chroma_e = mean_e[:, :2] / np.maximum(mean_e.sum(axis=1, keepdims=True), _F32(1))
    chroma_o = mean_o[:, :2] / np.maximum(mean_o.sum(axis=1, keepdims=True), _F32(1))
    return np.hypot(*(chroma_e - chroma_o).T) <= _FLAT_CHROMATICITY_TOLERANCE


def _count_breaks(intact: np.ndarray) -> int:
    """Runs of non-intact samples at least ``_MIN_BREAK_PX`` long."""
    broken = np.concatenate([[0], (~intact).astype(np.int8), [0]])
    edges = np.diff(broken)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return int(np.count_nonzero((stops - starts) * _SAMPLE_STEP_PX >= _MIN_BREAK_PX))


def _max_offset(offset: np.ndarray, intact: np.ndarray) -> float:
    """Largest |offset| of intact samples after a running median along the path."""
    if not intact.any():
        return 0.0
    values = offset[intact]
    if values.size >= _OFFSET_MEDIAN_PX:
        values = _running_median(values, _OFFSET_MEDIAN_PX)
    largest = float(np.max(np.abs(values)))
    return round(largest, _OFFSET_DECIMALS)


def _running_median(values: np.ndarray, size: int) -> np.ndarray:
    """Median of each sample and its ``size // 2`` neighbours on both sides (edges repeated)."""
    half = size // 2
    padded = np.pad(values, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, size)
    return np.median(windows, axis=1)


def _band_delta_e(
    expected: np.ndarray,
    output: np.ndarray,
    aligned: np.ndarray,
    core: np.ndarray,
    valid: np.ndarray,
    sample_valid: np.ndarray,
    search: int,
) -> float:
    """Mean CIEDE2000 between expected band pixels and the output's, at each alignment.

    The strips are the along-path averages: colour is judged on 5 px neighbourhoods, so
    JPEG's chroma subsampling and a pixel of misregistration along the path do not count as
    colour error."""
    rows = np.flatnonzero(sample_valid)
    columns = np.flatnonzero(core)
    take = valid[np.ix_(rows, columns)]
    exp_pixels = expected[np.ix_(rows, columns)][take]
    out_columns = columns[None, :] + search + aligned[rows][:, None]
    out_pixels = output[rows[:, None], out_columns][take]
    if exp_pixels.shape[0] == 0:
        return 0.0
    # Rounded to 8 bits (<= 0.5 grey level, far below a visible ΔE) for the table-driven
    # sRGB decoding; converted separately with the same shape because OpenCV's vector and
    # scalar paths round differently, and identical colours must give exactly 0.
    lab_expected = rgb_to_lab(np.clip(np.rint(exp_pixels), 0, 255).astype(np.uint8))
    lab_output = rgb_to_lab(np.clip(np.rint(out_pixels), 0, 255).astype(np.uint8))
    return float(np.mean(delta_e_ciede2000(lab_expected, lab_output), dtype=np.float64))
