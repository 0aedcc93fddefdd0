"""Validate one composed pose image against the placement map it was asked to render.

The backend decided, pixel by pixel, where every covered output pixel samples S_flat
(:class:`~sareeflow.models.PlacementMap`). Validation rebuilds that expected picture from the
same map and S_flat, removes the fold shading it asked for from both sides, and measures per
region:

* **SSIM** on luminance (masked), at a reduced resolution so that a sub-pixel or one-pixel
  misregistration does not count as lost pattern;
* **mean ΔE2000** on small blocks (area means) so that it measures *colour*: pattern edges,
  misregistration and blur average out, a tint does not;
* **pattern score**, a texture-descriptor similarity that is robust to small shifts;
* for border regions, **border continuity** along the border's centre line, at full resolution
  so that a bend of a few pixels is seen.

Each measure is checked against the thresholds for the region's kind
(:class:`~sareeflow.settings.ValidationThresholds`); failures become
:data:`~sareeflow.models.FailureKind` values and plain sentences a retry prompt can quote.

Why the shading is removed (``output / shading`` against the unshaded remap, with the expected
side passed through the same round-and-clip the renderer applies): the fold structure is shared
by both images, so comparing shaded images lets the folds alone hold SSIM up on a blurred
region; de-shading leaves only the cloth. Measured on the test fixture (see
``tests/tasks/test_validate.py``), this separates blurred regions from faithful JPEG q90
re-encodes with a wider margin than comparing shaded images; for colour both are the same to
within 0.1 ΔE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from metrics import (
    BorderContinuity,
    border_continuity,
    delta_e_ciede2000,
    pattern_similarity,
    rgb_to_lab,
    structural_similarity,
)
from sareeflow.errors import InvalidInput
from sareeflow.models import (
    FailureKind,
    PlacementMap,
    PlacementRegion,
    RegionCheck,
    ValidationReport,
)
from sareeflow.settings import RegionThresholds, ValidationThresholds

AREA_MAX_SIDE_PX = 512
"""SSIM and pattern score are measured on region crops downscaled (INTER_AREA) so that their long
side is at most this many pixels: bounds the cost, and tolerance to misregistration grows with
the reduction."""
AREA_MIN_REDUCTION = 2.0
"""Area measures are taken at least at 1/2 resolution: a one-pixel shift of a faithful render
then moves the pattern by half a pixel, which SSIM tolerates; a strong blur is still obvious."""
COLOR_BLOCK_PX = 8
"""ΔE2000 is measured between area means of blocks of this many output pixels: colour is a
property of patches of cloth, not of single pixels at pattern edges."""
SSIM_WIN_SIZE = 7
"""SSIM window side (px at the reduced resolution), scikit-image's default."""
MIN_REGION_PIXELS = 64
"""Regions owning fewer output pixels than this (e.g. fully hidden) are not checked."""
MIN_REGION_SIDE_PX = 3
"""Regions whose bbox is thinner than this (px) are not checked (no SSIM window fits)."""
BORDER_SEARCH_WIDTHS = 1.25
BORDER_SEARCH_EXTRA_PX = 12
"""The border check crops ``1.25 * width + 12`` px around a border's bbox: the reach of
:func:`metrics.border_continuity` (band + context ``max(4, w/4)`` + search ``max(8, w/2)``)."""
BORDER_MAX_REDUCTION = 2.0
"""Border checks run at no less than half resolution: a 4 px bend still moves the band 2 px
there, well above the metric's sub-pixel resolution."""
BORDER_MIN_WIDTH_PX = 24.0
"""...and never shrink a band below this width (px at the checked resolution)."""
PATTERN_MIN_SIDE_PX = 16
"""Smallest side :func:`metrics.pattern_similarity` accepts (px); thinner crops are padded."""
MAX_ALIGN_SHIFT_PX = 2
"""Largest whole-pixel misregistration (px, per axis) compensated before the area measures."""
MIN_BLOCK_COVERAGE = 0.5
"""A colour block takes part in the ΔE mean when at least this fraction of it is in the region."""
BORDER_MISSING_CONTINUITY = 0.15
"""At or below this continuity a border is reported missing rather than distorted."""
FLOAT_DECIMALS = 4
"""Floats in the report are rounded so the JSON is stable across platforms."""
SHADING_FLOOR = 0.05
"""Shading factors are clamped to at least this before dividing (avoids dividing by ~0)."""


# ------------------------------------------------------------------------------ public
def validate_output(
    output: np.ndarray,
    placement: PlacementMap,
    s_flat: np.ndarray,
    *,
    thresholds: ValidationThresholds,
) -> ValidationReport:
    """Check every region of ``output`` against what ``placement`` asked for.

    Parameters
    ----------
    output : (H, W, 3) uint8
        The composed pose image, RGB, of ``placement.canvas_size``.
    placement : PlacementMap
        The map the adapter was asked to render (with its arrays loaded).
    s_flat : (h, w, 3) uint8
        The flattened saree the map samples, of ``placement.flat_size``.
    thresholds : ValidationThresholds
        Limits per region kind.

    Returns
    -------
    ValidationReport
        One :class:`RegionCheck` per region that owns at least ``MIN_REGION_PIXELS`` pixels;
        ``passed`` when every checked region passed.
    """
    _check_inputs(output, placement, s_flat)
    checks: list[RegionCheck] = []
    for region in placement.regions:
        limits = _limits_for(region, thresholds)
        check = check_region(output, placement, region, s_flat, limits=limits)
        if check is not None:
            checks.append(check)
    return ValidationReport(
        pose=placement.pose, passed=all(c.passed for c in checks), regions=checks
    )


def check_region(
    output: np.ndarray,
    placement: PlacementMap,
    region: PlacementRegion,
    s_flat: np.ndarray,
    *,
    limits: RegionThresholds,
) -> RegionCheck | None:
    """Measure one region and judge it; ``None`` when the region owns too few pixels to judge."""
    arrays = placement.arrays[region.name]
    mask = arrays["map_x"] >= 0
    x, y, w, h = region.bbox
    if int(mask.sum()) < MIN_REGION_PIXELS or min(w, h) < MIN_REGION_SIDE_PX:
        return None
    shading = _shading(arrays, (h, w))
    got, want, rendered = comparable_pair(
        output[y : y + h, x : x + w], s_flat, arrays, shading, mask
    )
    measures = measure_area(got, want, mask)
    if region.kind == "border" and region.border_path and len(region.border_path) >= 2:
        border = measure_border(output, rendered, mask, region)
        measures = replace(
            measures,
            continuity=float(border.continuity),
            max_offset=float(border.max_offset_px),
            breaks=int(border.breaks),
        )
    failures, reasons = judge(region, measures, limits)
    return RegionCheck(
        region=region.name,
        kind=region.kind,
        part=region.part,
        bbox=(int(x), int(y), int(w), int(h)),
        ssim=_r(measures.ssim),
        delta_e=_r(measures.delta_e),
        pattern_score=_r(measures.pattern),
        border_continuity=None if measures.continuity is None else _r(measures.continuity),
        border_max_offset_px=None if measures.max_offset is None else _r(measures.max_offset),
        border_breaks=measures.breaks,
        passed=not failures,
        failures=failures,
        reasons=reasons,
    )


def measure_area(got: np.ndarray, want: np.ndarray, mask: np.ndarray) -> Measures:
    """SSIM, ΔE and pattern score of one region from its de-shaded (output, expected) pair.

    Taken after the best whole-pixel alignment within ``MAX_ALIGN_SHIFT_PX``: a render that is
    off by a pixel shows the right cloth, and a pixel of misregistration on a sharp pattern
    would otherwise read as colour change and lost structure. Outside the mask the expected
    pixels stand in for the output, so nothing outside the region enters a measure, even
    after downscaling.
    """
    dx, dy = best_alignment(got, want, mask)
    aligned = _translate(got, -dx, -dy) if (dx or dy) else got.copy()
    aligned[~mask] = want[~mask]

    small_got, small_want, small_mask = _reduce_for_area(aligned, want, mask)
    luma_got, luma_want = colour_invariant_luma(small_got, small_want, small_mask)
    ssim = structural_similarity(
        luma_got,
        luma_want,
        data_range=255.0,
        mask=small_mask,
        win_size=_window(small_mask.shape),
    )
    pattern = _pattern(luma_got, luma_want, small_mask)
    delta_e, mean_colour_delta_e = _block_delta_e(aligned, want, mask)
    return Measures(
        ssim=float(ssim),
        delta_e=float(delta_e),
        mean_colour_delta_e=float(mean_colour_delta_e),
        pattern=float(pattern),
        shift=(dx, dy),
    )


def measure_border(
    output: np.ndarray, rendered: np.ndarray, mask: np.ndarray, region: PlacementRegion
) -> BorderContinuity:
    """Border continuity of a border region, on the unaligned output (drift is what it measures).

    The output is cropped with a margin around the region's bbox, wide enough for the
    metric's sideways search (it looks up to ``1.25 * width + 12`` px from the path), so a
    border pushed out of its own bbox is still found. Both sides keep their shading: the
    metric correlates cross-profiles, which a shading gain does not change. Wide borders are
    checked at reduced resolution (at most ``BORDER_MAX_REDUCTION``, band kept at least
    ``BORDER_MIN_WIDTH_PX`` wide); offsets are reported in output pixels.
    """
    x, y, w, h = region.bbox
    width = float(region.border_width_px or _default_border_width(mask))
    margin = int(math.ceil(BORDER_SEARCH_WIDTHS * width + BORDER_SEARCH_EXTRA_PX))
    ch, cw = output.shape[:2]
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(cw, x + w + margin), min(ch, y + h + margin)
    crop = output[y0:y1, x0:x1]
    expected = np.zeros_like(crop)
    region_mask = np.zeros(crop.shape[:2], np.float32)
    expected[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = rendered
    region_mask[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = mask
    path = np.asarray(region.border_path or [], np.float64) - (x0, y0)

    factor = min(BORDER_MAX_REDUCTION, max(1.0, width / BORDER_MIN_WIDTH_PX))
    if factor > 1.0:
        size = (max(1, round(crop.shape[1] / factor)), max(1, round(crop.shape[0] / factor)))
        sx, sy = size[0] / crop.shape[1], size[1] / crop.shape[0]
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        expected = cv2.resize(expected, size, interpolation=cv2.INTER_AREA)
        region_mask = cv2.resize(region_mask, size, interpolation=cv2.INTER_AREA)
        # pixel centres map as (p + 0.5) * s - 0.5
        path = (path + 0.5) * (sx, sy) - 0.5
        width = width * (sx + sy) / 2.0
    result = border_continuity(
        crop, expected, [tuple(p) for p in path], width=width, mask=region_mask >= 0.5
    )
    if factor > 1.0:
        result = result.model_copy(update={"max_offset_px": result.max_offset_px * factor})
    return result


def colour_invariant_luma(
    got: np.ndarray, want: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(luma of ``got`` seen through its best affine colour map, luma of ``want``), uint8.

    SSIM and the pattern score should see the pattern, not its colours: ΔE judges colour. A
    colour cast or hue error changes the luma contrast between a motif and its ground (and
    so the pattern descriptor) although the pattern is intact. Fitting ``a·R + b·G + c·B + d``
    of the output to the expected luma over the region (least squares, 4 numbers for
    thousands of pixels) undoes any global colour transform, but cannot put back a pattern
    that is blurred, mirrored or replaced: such a fit is poor and the measures stay low.
    """
    target = _luma(want)
    inside = mask.astype(bool)
    design = np.concatenate(
        [got[inside].astype(np.float64), np.ones((int(inside.sum()), 1))], axis=1
    )
    coef, *_ = np.linalg.lstsq(design, target[inside].astype(np.float64), rcond=None)
    fitted = got.astype(np.float32) @ coef[:3].astype(np.float32) + np.float32(coef[3])
    fitted[~inside] = target[~inside]
    return (
        np.clip(np.rint(fitted), 0, 255).astype(np.uint8),
        np.clip(np.rint(target), 0, 255).astype(np.uint8),
    )


def best_alignment(got: np.ndarray, want: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    """Whole-pixel (dx, dy) with ``got[y + dy, x + dx] ≈ want[y, x]``, |dx|, |dy| ≤ the limit.

    Hill-climbs the masked mean absolute luma difference from (0, 0) over the 8 neighbours;
    on cloth patterns (periods of several pixels) the cost is unimodal within a couple of px.
    """
    h, w = mask.shape
    s = MAX_ALIGN_SHIFT_PX
    if h <= 2 * s + 2 or w <= 2 * s + 2:
        return 0, 0
    g = _luma(got)
    ref = _luma(want)[s : h - s, s : w - s]
    inner = mask[s : h - s, s : w - s].astype(np.uint8)
    if not inner.any():
        return 0, 0
    cache: dict[tuple[int, int], float] = {}

    def cost(dx: int, dy: int) -> float:
        if (dx, dy) not in cache:
            moved = g[s + dy : h - s + dy, s + dx : w - s + dx]
            cache[(dx, dy)] = cv2.mean(cv2.absdiff(moved, ref), mask=inner)[0]
        return cache[(dx, dy)]

    best = (0, 0)
    while True:
        bx, by = best
        candidates = [
            (bx + i, by + j)
            for j in (-1, 0, 1)
            for i in (-1, 0, 1)
            if abs(bx + i) <= s and abs(by + j) <= s
        ]
        step = min(candidates, key=lambda c: (cost(*c), abs(c[0]) + abs(c[1]), c))
        if step == best:
            return best
        best = step


def expected_unshaded(s_flat: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """The cloth the map asks for, before shading: float32 RGB (0..255), bbox-sized.

    Exactly what the local compose adapter samples: bilinear on the ``uint8`` S_flat (so the
    sample is rounded to whole levels before shading, as there), reflected at S_flat's edges.
    """
    sampled = cv2.remap(
        s_flat,
        map_x.astype(np.float32, copy=False),
        map_y.astype(np.float32, copy=False),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    return sampled.astype(np.float32)


def comparable_pair(
    crop: np.ndarray,
    s_flat: np.ndarray,
    arrays: dict[str, np.ndarray],
    shading: np.ndarray,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(output de-shaded, expected de-shaded, expected as rendered) of one region, RGB uint8.

    The expected side goes through the renderer's own round-and-clip before de-shading, so
    highlights clipped at 255 by the adapter are clipped on both sides. Pixels outside the
    region's mask are left as they are (the caller decides what they mean).
    """
    flat = expected_unshaded(s_flat, arrays["map_x"], arrays["map_y"])
    shade = cv2.merge([shading.astype(np.float32, copy=False)] * 3)
    rendered = _to_uint8(cv2.multiply(flat, shade))
    shade = np.maximum(shade, np.float32(SHADING_FLOOR))
    want = _to_uint8(cv2.divide(rendered.astype(np.float32), shade))
    got = _to_uint8(cv2.divide(crop.astype(np.float32), shade))
    return got, want, rendered


# ------------------------------------------------------------------------------ judging
@dataclass(frozen=True)
class Measures:
    """Raw (unrounded) measures of one region."""

    ssim: float
    delta_e: float
    """Mean ΔE2000 over colour blocks (local colour)."""
    mean_colour_delta_e: float
    """ΔE2000 between the region's mean colours (a cast over the whole region)."""
    pattern: float
    continuity: float | None = None
    max_offset: float | None = None
    breaks: int | None = None
    shift: tuple[int, int] = (0, 0)
    """Whole-pixel alignment applied before the area measures (dx, dy)."""


def judge(
    region: PlacementRegion, m: Measures, limits: RegionThresholds
) -> tuple[list[FailureKind], list[str]]:
    """Failure kinds and retry-ready sentences for one region's measures.

    A border whose geometry failed (bent, broken, missing) also shows colour and pattern
    mismatches inside its mask; those are consequences, so they are not reported as separate
    kinds for that border (the retry should fix the geometry, not recolour the cloth).
    """
    failures: list[FailureKind] = []
    reasons: list[str] = []
    name = region.name

    def add(kind: FailureKind, reason: str) -> None:
        if kind not in failures:
            failures.append(kind)
        reasons.append(reason)

    border_failed = False
    if m.continuity is not None:
        if m.continuity <= BORDER_MISSING_CONTINUITY:
            border_failed = True
            add(
                "border_missing",
                f"Border '{name}' is missing: only {m.continuity:.0%} of its length is "
                f"visible (limit {limits.min_border_continuity:.0%}).",
            )
        else:
            if m.max_offset is not None and m.max_offset > limits.max_border_offset_px:
                border_failed = True
                add(
                    "border_distortion",
                    f"Border '{name}' is distorted: it drifts up to {m.max_offset:.1f} px from "
                    f"its path (limit {limits.max_border_offset_px:.1f} px).",
                )
            if m.continuity < limits.min_border_continuity:
                border_failed = True
                breaks = f" in {m.breaks} place{'s' if m.breaks != 1 else ''}" if m.breaks else ""
                add(
                    "border_distortion",
                    f"Border '{name}' is broken{breaks}: only {m.continuity:.0%} of its length "
                    f"is intact (limit {limits.min_border_continuity:.0%}).",
                )
    if border_failed:
        return failures, reasons

    structure_kind: FailureKind = {
        "pallu": "pallu_mismatch",
        "border": "border_distortion",
        "body": "pattern_loss",
    }[region.kind]
    structure_failed = False
    if m.pattern < limits.min_pattern_score:
        structure_failed = True
        add(
            structure_kind,
            _pattern_sentence(region, "pattern score", m.pattern, limits.min_pattern_score),
        )
    if m.ssim < limits.min_ssim:
        structure_failed = True
        add(
            structure_kind,
            _pattern_sentence(region, "structural similarity", m.ssim, limits.min_ssim),
        )
    # Blocks of a blurred or swapped pattern differ in colour too; with the structure already
    # failed, a colour shift is reported only when the region's mean colour moved as well.
    colour = m.mean_colour_delta_e if structure_failed else m.delta_e
    if colour > limits.max_delta_e:
        add(
            "color_shift",
            f"Region '{name}' changed colour: mean ΔE2000 {m.delta_e:.1f} "
            f"(limit {limits.max_delta_e:.1f}).",
        )
    return failures, reasons


def _pattern_sentence(region: PlacementRegion, measure: str, value: float, limit: float) -> str:
    if region.kind == "pallu":
        return (
            f"Region '{region.name}' does not show the pallu's pattern "
            f"({measure} {value:.2f}, limit {limit:.2f})."
        )
    if region.kind == "border":
        return (
            f"Border '{region.name}' does not show the border's pattern "
            f"({measure} {value:.2f}, limit {limit:.2f})."
        )
    return (
        f"Region '{region.name}' lost the cloth's pattern "
        f"({measure} {value:.2f}, limit {limit:.2f})."
    )


# ------------------------------------------------------------------------------ helpers
def _check_inputs(output: np.ndarray, placement: PlacementMap, s_flat: np.ndarray) -> None:
    """Shape and dtype checks with messages that say what was expected."""
    cw, ch = placement.canvas_size
    if not (isinstance(output, np.ndarray) and output.dtype == np.uint8):
        raise InvalidInput("The output image must be an RGB uint8 array.")
    if output.shape != (ch, cw, 3):
        raise InvalidInput(
            f"The output image is {_describe(output)}, but pose '{placement.pose}' needs "
            f"{cw}x{ch} RGB (w x h)."
        )
    fw, fh = placement.flat_size
    if not (isinstance(s_flat, np.ndarray) and s_flat.dtype == np.uint8):
        raise InvalidInput("S_flat must be an RGB uint8 array.")
    if s_flat.shape != (fh, fw, 3):
        raise InvalidInput(
            f"S_flat is {_describe(s_flat)}, but the placement map samples a {fw}x{fh} "
            "RGB S_flat (w x h)."
        )
    for region in placement.regions:
        x, y, w, h = region.bbox
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > cw or y + h > ch:
            raise InvalidInput(
                f"Region '{region.name}' has bbox {region.bbox}, outside the {cw}x{ch} canvas."
            )
        arrays = placement.arrays.get(region.name)
        if arrays is None or "map_x" not in arrays or "map_y" not in arrays:
            raise InvalidInput(f"The placement map has no arrays for region '{region.name}'.")
        for key in ("map_x", "map_y", "shading"):
            if key in arrays and arrays[key].shape != (h, w):
                raise InvalidInput(
                    f"Region '{region.name}': {key} is {arrays[key].shape[::-1]} (w x h) but its "
                    f"bbox is {w}x{h}."
                )


def _describe(arr: np.ndarray) -> str:
    if arr.ndim == 3:
        return f"{arr.shape[1]}x{arr.shape[0]} with {arr.shape[2]} channels"
    if arr.ndim == 2:
        return f"{arr.shape[1]}x{arr.shape[0]} single-channel"
    return f"an array of shape {arr.shape}"


def _limits_for(region: PlacementRegion, thresholds: ValidationThresholds) -> RegionThresholds:
    return {"body": thresholds.body, "border": thresholds.border, "pallu": thresholds.pallu}[
        region.kind
    ]


def _shading(arrays: dict[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    shading = arrays.get("shading")
    if shading is None:
        return np.ones(shape, np.float32)
    return shading.astype(np.float32, copy=False)


def _reduce_for_area(
    got: np.ndarray, want: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Downscale a region pair (INTER_AREA) for SSIM and pattern score.

    The factor is at least ``AREA_MIN_REDUCTION`` and large enough for the long side to fit
    ``AREA_MAX_SIDE_PX``, but the short side is kept at ``3 * SSIM_WIN_SIZE`` or more so narrow
    regions still hold whole SSIM windows.
    """
    h, w = mask.shape
    factor = max(AREA_MIN_REDUCTION, max(h, w) / AREA_MAX_SIDE_PX)
    factor = min(factor, max(1.0, min(h, w) / (3 * SSIM_WIN_SIZE)))
    if factor <= 1.0:
        return got, want, mask
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    small_got = cv2.resize(got, size, interpolation=cv2.INTER_AREA)
    small_want = cv2.resize(want, size, interpolation=cv2.INTER_AREA)
    coverage = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return small_got, small_want, coverage >= 0.5


def _block_delta_e(got: np.ndarray, want: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(mean ΔE2000 between ``COLOR_BLOCK_PX`` block means, ΔE2000 of the region's mean colours).

    Blocks count by how much of them lies in the region (at least ``MIN_BLOCK_COVERAGE``).
    """
    h, w = mask.shape
    size = (max(1, math.ceil(w / COLOR_BLOCK_PX)), max(1, math.ceil(h / COLOR_BLOCK_PX)))
    block_got = rgb_to_lab(cv2.resize(got, size, interpolation=cv2.INTER_AREA))
    block_want = rgb_to_lab(cv2.resize(want, size, interpolation=cv2.INTER_AREA))
    coverage = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    keep = coverage >= MIN_BLOCK_COVERAGE
    if not keep.any():
        keep = coverage > 0
    weight = coverage[keep].astype(np.float64)
    per_block = delta_e_ciede2000(block_got[keep], block_want[keep]).astype(np.float64)
    local = float(np.average(per_block, weights=weight))
    mean_got = np.average(block_got[keep], axis=0, weights=weight)[None, :]
    mean_want = np.average(block_want[keep], axis=0, weights=weight)[None, :]
    overall = float(delta_e_ciede2000(mean_got, mean_want)[0])
    return local, overall


def _translate(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Move content at (x, y) to (x + dx, y + dy) by whole pixels; edges replicated."""
    h, w = image.shape[:2]
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
    )


def _window(shape: tuple[int, int]) -> int:
    """``SSIM_WIN_SIZE``, or the largest odd size ≥ 3 that fits a small image."""
    side = min(shape)
    if side >= SSIM_WIN_SIZE:
        return SSIM_WIN_SIZE
    return max(3, side - 1 if side % 2 == 0 else side)


def _pattern(luma_got: np.ndarray, luma_want: np.ndarray, mask: np.ndarray) -> float:
    """Pattern score of two luma images (grey RGB for :func:`metrics.pattern_similarity`).

    Regions thinner than the descriptor's minimum side are padded (reflected pixels, outside
    the mask) rather than skipped: a thin border still gets a pattern score.
    """
    h, w = mask.shape
    pad_y = max(0, PATTERN_MIN_SIDE_PX - h)
    pad_x = max(0, PATTERN_MIN_SIDE_PX - w)
    if pad_x or pad_y:
        pads = (pad_y // 2, pad_y - pad_y // 2, pad_x // 2, pad_x - pad_x // 2)
        luma_got = cv2.copyMakeBorder(luma_got, *pads, cv2.BORDER_REFLECT)
        luma_want = cv2.copyMakeBorder(luma_want, *pads, cv2.BORDER_REFLECT)
        mask = cv2.copyMakeBorder(mask.astype(np.uint8), *pads, cv2.BORDER_CONSTANT, value=0)
    return pattern_similarity(
        cv2.cvtColor(luma_got, cv2.COLOR_GRAY2RGB),
        cv2.cvtColor(luma_want, cv2.COLOR_GRAY2RGB),
        mask=mask,
    )


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma as float32 (0..255)."""
    return cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)


def _default_border_width(mask: np.ndarray) -> float:
    """Border width when the map does not give one: twice the mask's largest inner radius."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    return float(max(1.0, 2.0 * dist.max()))


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Round half to even and saturate to 0..255, as the renderer's ``np.rint`` + clip."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _r(value: float) -> float:
    return round(float(value), FLOAT_DECIMALS)
