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

import cv2
import numpy as np

from metrics import border_continuity, mean_delta_e, pattern_similarity, structural_similarity
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
    if int(mask.sum()) < MIN_REGION_PIXELS:
        return None
    x, y, w, h = region.bbox
    shading = _shading(arrays, (h, w))
    got, want = comparable_pair(output[y : y + h, x : x + w], s_flat, arrays, shading, mask)

    small_got, small_want, small_mask = _reduce_for_area(got, want, mask)
    ssim = structural_similarity(
        _luma(small_got),
        _luma(small_want),
        data_range=255.0,
        mask=small_mask,
        win_size=SSIM_WIN_SIZE,
    )
    pattern = pattern_similarity(small_got, small_want, mask=small_mask)
    delta_e = _block_delta_e(got, want, mask)

    border = None
    if region.kind == "border" and region.border_path and len(region.border_path) >= 2:
        path = [(px - x, py - y) for px, py in region.border_path]
        width = float(region.border_width_px or _default_border_width(mask))
        border = border_continuity(got, want, path, width=width, mask=mask)

    measures = _Measures(
        ssim=float(ssim),
        delta_e=float(delta_e),
        pattern=float(pattern),
        continuity=None if border is None else float(border.continuity),
        max_offset=None if border is None else float(border.max_offset_px),
        breaks=None if border is None else int(border.breaks),
    )
    failures, reasons = judge(region, measures, limits)
    return RegionCheck(
        region=region.name,
        kind=region.kind,
        part=region.part,
        bbox=tuple(int(v) for v in region.bbox),
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


def expected_unshaded(
    s_flat: np.ndarray, map_x: np.ndarray, map_y: np.ndarray
) -> np.ndarray:
    """The cloth the map asks for, before shading: float32 RGB (0..255), bbox-sized.

    Exactly what the local compose adapter samples (bilinear, reflected at the edges of S_flat).
    """
    return cv2.remap(
        s_flat.astype(np.float32),
        map_x.astype(np.float32, copy=False),
        map_y.astype(np.float32, copy=False),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )


def comparable_pair(
    crop: np.ndarray,
    s_flat: np.ndarray,
    arrays: dict[str, np.ndarray],
    shading: np.ndarray,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(output, expected) of one region, both de-shaded, RGB uint8, bbox-sized.

    The expected side goes through the renderer's own round-and-clip before de-shading, so
    highlights clipped at 255 by the adapter are clipped on both sides. Outside the region's mask
    the output is replaced by the expected pixels: neighbouring regions and background then
    contribute nothing to the comparison, even after downscaling.
    """
    flat = expected_unshaded(s_flat, arrays["map_x"], arrays["map_y"])
    shade = np.maximum(shading, SHADING_FLOOR)[..., None]
    rendered = np.clip(np.rint(flat * shading[..., None]), 0, 255)
    want = np.clip(np.rint(rendered / shade), 0, 255).astype(np.uint8)
    got = np.clip(np.rint(crop.astype(np.float32) / shade), 0, 255).astype(np.uint8)
    got[~mask] = want[~mask]
    return got, want


# ------------------------------------------------------------------------------ judging
class _Measures:
    """Raw (unrounded) measures of one region."""

    __slots__ = ("ssim", "delta_e", "pattern", "continuity", "max_offset", "breaks")

    def __init__(
        self,
        *,
        ssim: float,
        delta_e: float,
        pattern: float,
        continuity: float | None,
        max_offset: float | None,
        breaks: int | None,
    ) -> None:
        self.ssim = ssim
        self.delta_e = delta_e
        self.pattern = pattern
        self.continuity = continuity
        self.max_offset = max_offset
        self.breaks = breaks


def judge(
    region: PlacementRegion, m: _Measures, limits: RegionThresholds
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

    if m.delta_e > limits.max_delta_e:
        add(
            "color_shift",
            f"Region '{name}' changed colour: mean ΔE2000 {m.delta_e:.1f} "
            f"(limit {limits.max_delta_e:.1f}).",
        )
    structure_kind: FailureKind = "pallu_mismatch" if region.kind == "pallu" else (
        "border_distortion" if region.kind == "border" else "pattern_loss"
    )
    if m.pattern < limits.min_pattern_score:
        add(structure_kind, _pattern_sentence(region, "pattern score", m.pattern,
                                              limits.min_pattern_score))
    if m.ssim < limits.min_ssim:
        add(structure_kind, _pattern_sentence(region, "structural similarity", m.ssim,
                                              limits.min_ssim))
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


def _block_delta_e(got: np.ndarray, want: np.ndarray, mask: np.ndarray) -> float:
    """Mean ΔE2000 between ``COLOR_BLOCK_PX`` block means inside the mask."""
    h, w = mask.shape
    size = (max(1, math.ceil(w / COLOR_BLOCK_PX)), max(1, math.ceil(h / COLOR_BLOCK_PX)))
    block_got = cv2.resize(got, size, interpolation=cv2.INTER_AREA)
    block_want = cv2.resize(want, size, interpolation=cv2.INTER_AREA)
    coverage = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    keep = coverage >= MIN_BLOCK_COVERAGE
    if not keep.any():
        keep = coverage > 0
    return float(mean_delta_e(block_got, block_want, mask=keep))


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma as float32 (0..255)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _default_border_width(mask: np.ndarray) -> float:
    """Border width when the map does not give one: twice the mask's largest inner radius."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    return float(max(1.0, 2.0 * dist.max()))


def _r(value: float) -> float:
    return round(float(value), FLOAT_DECIMALS)
