"""Validate one composed pose image against the placement map it was asked to render.

The backend decided, pixel by pixel, where every covered output pixel samples S_flat
(:class:`~sareeflow.models.PlacementMap`). Validation rebuilds that expected picture from the
same map and S_flat (``remap(s_flat) * shading``, rounded, as the local compose adapter renders
it) and measures, per region:

* **SSIM** on luminance (masked), at half resolution or less;
* **mean ΔE2000** between area means of 8 px blocks, so that it measures *colour*: pattern
  edges and misregistration average out, a tint does not;
* **pattern score**, a texture-descriptor similarity robust to small shifts;
* for border regions, **border continuity** along the border's centre line, at a resolution
  where a 4 px bend is still seen, against the band and the trusted cloth beside it.

What legitimately differs is compensated first:

* *misregistration* of up to ``MAX_ALIGN_SHIFT_PX``: the best whole-pixel shift of each region
  is found on the shaded images and every measure is taken after it (a remote adapter will not
  hit the pixel grid exactly; a bend of a border is local, so a whole-region shift of two
  pixels at most does not hide it);
* *fold shading*: both sides are divided by the shading the map asked for. Measured on the test
  fixture (tests/validation_fixture.py): a strong blur of the body gives SSIM 0.14 de-shaded
  against 0.24 comparing shaded images (the shared folds hold SSIM up), JPEG q90 gives 0.999
  either way, and ΔE differs by < 0.1 between the two;
* *colour* for the structural measures: SSIM and pattern score compare the output's luma seen
  through its best affine colour map with the expected luma, so a colour cast (ΔE's job) does
  not also read as a lost pattern.

Each measure is checked against the thresholds for the region's kind
(:class:`~sareeflow.settings.ValidationThresholds`); failures become
:data:`~sareeflow.models.FailureKind` values and plain sentences a retry prompt can quote.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from metrics import (
    BorderContinuity,
    PatternReference,
    border_continuity,
    delta_e_ciede2000,
    rgb_to_lab,
    structural_similarity,
)
from sareeflow.errors import InternalError, InvalidInput
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
side is at most this many pixels: it bounds the cost."""
AREA_MIN_REDUCTION = 2.0
"""...and at least by this factor: what is left of a sub-pixel misregistration after alignment
shrinks with it, while a strong blur stays obvious."""
AREA_MIN_SHORT_SIDE_PX = 64
"""...but never to less than this on the short side: the pattern descriptor pools 16 px cells
into ~48 px neighbourhoods, and a narrow border reduced to a couple of cells gave scores that
moved by 0.2 under a mere colour cast."""
COLOR_BLOCK_PX = 8
"""ΔE2000 is measured between area means of blocks of this many output pixels: colour is a
property of patches of cloth, not of single pixels at pattern edges."""
MIN_BLOCK_COVERAGE = 0.5
"""A colour block takes part in the ΔE mean when at least this fraction of it is in the region."""
SSIM_WIN_SIZE = 7
"""SSIM window side (px at the reduced resolution), scikit-image's default."""
SSIM_SIGMA_PX = 1.5
"""Gaussian window of SSIM (Wang et al. 2004), also used to find where the cloth has structure."""
STRUCTURE_STD_LEVELS = 6.0
"""Local luma std (grey levels, at the area resolution) above which cloth shows structure:
motif edges reach tens of levels, weave noise stays at 1-3 after the area reduction."""
STRUCTURE_MIN_FRACTION = 0.02
"""Below this share of structured pixels a region is plain, and SSIM uses all of it."""
PATTERN_MIN_SIDE_PX = 16
"""Smallest side :func:`metrics.pattern_similarity` accepts (px); thinner crops are padded."""
L_STAR_TO_GREY = 2.55
"""Grey levels per CIELAB unit for the structure channel (L* 0..100 onto 0..255), so SSIM's
constants for ``data_range=255`` keep their usual meaning..."""
PATTERN_GREY = 192.0
PATTERN_HALF_RANGE = 60.0
"""Lightness channel of the pattern score: mean grey level, and the half range three standard
deviations of the expected L* may take before the 2.55 levels per unit are scaled down."""
STRUCTURE_MID_GREY = 128.0
STRUCTURE_HALF_RANGE = 120.0
"""...centred on mid-grey, and scaled down when the cloth's contrast would not fit 0..255."""
COLOUR_FIT_SAMPLES = 20_000
"""Pixels (evenly spaced) used to fit the affine colour map that makes structure measures
colour-blind: four or twelve numbers need no more."""
MAX_ALIGN_SHIFT_PX = 2
"""Largest whole-pixel misregistration (px, per axis) compensated before measuring."""
ALIGN_ROW_STEP = 2
"""The alignment cost is summed over every second row: half the work, the same minimum."""
MIN_REGION_PIXELS = 64
"""Regions owning fewer output pixels than this (e.g. fully hidden) are not checked."""
MIN_REGION_SIDE_PX = 3
"""Regions whose bbox is thinner than this (px) are not checked (no SSIM window fits)."""
BORDER_MAX_REDUCTION = 2
"""Border checks run at full or half resolution (a whole factor: a fast reduction): a 4 px
bend still moves the band 2 px at half resolution, well above the metric's sub-pixel
resolution."""
BORDER_MIN_WIDTH_PX = 24.0
"""...and halve a band only if it stays at least this wide (px at the checked resolution)."""
BORDER_SEARCH_WIDTHS = 1.25
BORDER_SEARCH_EXTRA_PX = 12
"""The border check crops ``1.25 * width + 12`` px around a border's bbox: the reach of
:func:`metrics.border_continuity` (band + context ``max(4, w/4)`` + search ``max(8, w/2)``)."""
BORDER_END_TRIM = 0.5
"""The border check skips half a band width of path at each end: there the region's outline
cuts the band, and cross-profiles see the cut rather than the border."""
BORDER_MISSING_CONTINUITY = 0.15
"""At or below this continuity a border is reported missing rather than distorted."""
OTHER_CLOTH_RATIO = 0.5
"""A region shows another part's cloth when its mean colour is less than half as far (ΔE2000)
from that part's colour in the output as from its own expected colour."""
OTHER_CLOTH_MAX_DELTA_E = 6.0
"""...and at most this far from it: the same cloth de-shaded differs by a few units only."""
CHANGED_BLOCK_DELTA_E = 15.0
"""ΔE2000 (as the block looks, shaded) above which a colour block shows different cloth, not a
tint: the cloth generator keeps parts 22-28 CIELAB units apart, while JPEG q85 and sensor
noise moved no block of 1315 faithful and benign regions (development set) by more than 15,
and up to 1.2 % of a saturated temple border's blocks by more than 10."""
LOCAL_CHANGE_FRACTION = 0.5
"""A border whose colour failed because of fewer than this share of its blocks (each changed
by more than ``CHANGED_BLOCK_DELTA_E``, the rest within the limit) is broken in places, not
recoloured."""
BORDER_CONTEXT_PX = 6
BORDER_CONTEXT_WIDTHS = 0.25
"""Trusted cloth beside a border that its check may use: ``max(6 px, width / 4)``, the context
:func:`metrics.border_continuity` itself looks at. It shows the band's edges against its
neighbours, which is all a plain border offers to pin its position."""
MISPLACED_SEARCH_PX = 24
"""How far (output px, per axis) a failed pallu region is searched for its own cloth: 1.5x
the 16 px of ``region_shifted``'s strong level."""
MISPLACED_STEP = 2
"""The search runs at half resolution: a quarter of the work, 2 px steps."""
MISPLACED_MIN_SHIFT_PX = 4
"""A region found at least this far (output px, either axis) from its place is misplaced;
nearer, the ±2 px alignment already compensates it."""
MISPLACED_MIN_MATCH = 0.5
"""Normalised correlation the region's expected cloth must reach at the displaced place...
(bench-validate sarees 5000-5007: shifted pallus 0.53-0.99; a swapped pallu's best place
0.06-0.84)"""
MISPLACED_MIN_GAIN = 0.08
"""...and by how much it must beat its correlation at its own place (the same sarees: shifted
pallus gained 0.11-0.45 at the clear level; swapped, mirrored or recoloured ones at most 0.05
wherever they reached the match above). docs/validation.md has the rates."""
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
    expected: ExpectedPose | None = None,
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
    expected : ExpectedPose, optional
        ``ExpectedPose(placement, s_flat)``, to validate several candidate outputs against one
        map while computing the expected side once (it keeps what it derives). Built here
        when not given.

    Returns
    -------
    ValidationReport
        One :class:`RegionCheck` per region that owns at least ``MIN_REGION_PIXELS`` pixels, in
        the placement's order; ``passed`` when every checked region passed.

    Raises
    ------
    InvalidInput
        If ``output`` or ``s_flat`` does not have the size the placement map needs, the
        map's arrays do not match its regions' bboxes, or ``expected`` was built from another
        map or S_flat.
    """
    _check_inputs(output, placement, s_flat)
    if expected is None:
        expected = ExpectedPose(placement, s_flat)
    elif expected.placement is not placement or expected.s_flat is not s_flat:
        raise InvalidInput("The expected pose was built from another placement map or S_flat.")
    prepared = [observe_region(output, region) for region in expected.regions]
    area = [measure_area(item) for item in prepared]
    limits = [_limits_for(item.region, thresholds) for item in prepared]
    colours = part_colours([item.region for item in prepared], area)

    # The whole expected picture, for the border checks: a band's position is pinned by its
    # edges against the cloth beside it. Only neighbours that passed their own area checks
    # count as context, so a swapped pallu or a blurred body beside a border is not mistaken
    # for a broken border.
    expected = output.copy()
    trusted = np.zeros(output.shape[:2], bool)
    for item, measures, limit in zip(prepared, area, limits, strict=True):
        x, y, w, h = item.region.bbox
        cv2.copyTo(item.rendered, item.mask.view(np.uint8), expected[y : y + h, x : x + w])
        if not judge(item.region, measures, limit, colours=colours)[0]:
            trusted[y : y + h, x : x + w] |= item.mask

    checks = []
    for item, measures, limit in zip(prepared, area, limits, strict=True):
        region = item.region
        if item.expected.border is not None:
            border = measure_border(output, expected, trusted, item)
            measures = replace(
                measures,
                continuity=float(border.continuity),
                max_offset=float(border.max_offset_px),
                breaks=int(border.breaks),
            )
        check = _region_check(region, measures, limit, colours)
        if not check.passed and region.kind == "pallu":
            check = _misplaced_or(check, find_displacement(output, item.expected))
        checks.append(check)
    return ValidationReport(
        pose=placement.pose, passed=all(c.passed for c in checks), regions=checks
    )


# ------------------------------------------------------------------------------ expected
@dataclass(frozen=True)
class AlignmentReference:
    """The expected side of :func:`best_alignment`: normalised gradient magnitude of the
    rendered region (every ``rows``-th row) and where it is compared."""

    edges: np.ndarray
    inside: np.ndarray
    """uint8, bbox-sized: the mask eroded by the search range (outline left out)."""
    rows: int


@dataclass(frozen=True)
class StructureTarget:
    """The expected side of the SSIM channel (see :func:`structure_target`)."""

    axis: np.ndarray
    """Unit principal colour axis of the expected cloth (CIELAB)."""
    target: np.ndarray
    """float32 grey levels: the expected cloth projected on that axis."""
    channel: np.ndarray
    """uint8 of ``target``."""


@dataclass(frozen=True)
class _BlockReference:
    """The expected side of the block colours (see :func:`_block_colour`)."""

    block: int
    """Block side in reduced pixels."""
    keep: np.ndarray
    """bool per block: enough of it inside the region."""
    lab: np.ndarray
    """CIELAB of the kept blocks, de-shaded (``N x 3``)."""
    seen_lab: np.ndarray
    """CIELAB of the kept blocks as they look (shaded)."""
    weight: np.ndarray
    """Coverage of the kept blocks (float64)."""
    mean: np.ndarray
    """Coverage-weighted mean CIELAB of the region (de-shaded)."""


class ExpectedRegion:
    """What a faithful renderer draws in one region, and what derives from that alone.

    Construction renders the region exactly (rounded and clipped like the renderer's output)
    and reduces it for the area measures: by a whole factor (INTER_AREA over k x k blocks,
    see ``_area_factor``; the bbox is padded right and bottom to a multiple of k with pixels
    outside the mask), divided by the reduced shading. The expected half of each measure
    (CIELAB, the SSIM and pattern channels, SSIM's mask, the pattern descriptor, block
    colours, the alignment reference) is computed when first needed and then kept, so that
    validating several candidates against one map pays for it once.
    """

    def __init__(
        self, placement: PlacementMap, region: PlacementRegion, s_flat: np.ndarray
    ) -> None:
        arrays = placement.arrays[region.name]
        self.region = region
        self.canvas_size = placement.canvas_size
        self.mask: np.ndarray = arrays["map_x"] >= 0
        """bool, bbox-sized: pixels the region owns."""
        h, w = self.mask.shape
        shading = arrays.get("shading")
        shading = np.ones((h, w), np.float32) if shading is None else shading.astype(np.float32)
        sampled = expected_unshaded(s_flat, arrays)
        self.rendered: np.ndarray = cv2.multiply(sampled, cv2.merge([shading] * 3), dtype=cv2.CV_8U)
        """RGB uint8, bbox-sized: expected pixels as a faithful renderer draws them (shaded)."""
        self.factor = _area_factor((h, w))
        """Whole-number reduction of the area-measure images (output px per reduced px)."""
        self.pad = (-h % self.factor, -w % self.factor)
        """(rows, columns) added below and right of the bbox to make whole blocks."""
        pad_y, pad_x = self.pad
        padded_mask = cv2.copyMakeBorder(
            self.mask.view(np.uint8), 0, pad_y, 0, pad_x, cv2.BORDER_CONSTANT, value=0
        )
        self.outside = 1 - padded_mask
        """uint8, padded bbox: where an output's pixels are replaced by the expected ones."""
        self.padded_rendered = cv2.copyMakeBorder(
            self.rendered, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE
        )
        shading = cv2.copyMakeBorder(shading, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
        coverage = padded_mask.astype(np.float32)
        small = self.padded_rendered
        if self.factor > 1:
            small, shading, coverage = (
                _reduce(image, self.factor) for image in (small, shading, coverage)
            )
        self.seen: np.ndarray = small
        """RGB uint8 at the area-measure resolution: expected, shaded (as it looks)."""
        self.shade = cv2.merge([np.maximum(shading, np.float32(SHADING_FLOOR))] * 3)
        """float32 RGB at the area-measure resolution: the shading divided out of both sides."""
        self.want: np.ndarray = cv2.divide(small.astype(np.float32), self.shade, dtype=cv2.CV_8U)
        """RGB uint8 at the area-measure resolution: expected, de-shaded."""
        self.coverage: np.ndarray = coverage
        """float32 at the area-measure resolution: share of each pixel inside the region."""

    @functools.cached_property
    def small_mask(self) -> np.ndarray:
        """bool at the area-measure resolution: pixels at least half inside the region."""
        small = self.coverage >= 0.5
        return small if small.any() else self.coverage > 0

    @functools.cached_property
    def alignment(self) -> AlignmentReference:
        return alignment_reference(self.rendered, self.mask)

    @functools.cached_property
    def lab(self) -> np.ndarray:
        return rgb_to_lab(self.want)

    @functools.cached_property
    def structure(self) -> StructureTarget:
        return structure_target(self.lab, self.small_mask)

    @functools.cached_property
    def window(self) -> int:
        return _window(self.small_mask.shape)

    @functools.cached_property
    def ssim_mask(self) -> np.ndarray:
        return structured_mask(self.structure.channel, self.small_mask, self.window)

    @functools.cached_property
    def lightness(self) -> np.ndarray:
        return lightness_target(self.lab, self.small_mask)

    @functools.cached_property
    def pattern_pads(self) -> tuple[int, int, int, int]:
        return _pattern_pads(self.small_mask.shape)

    @functools.cached_property
    def pattern(self) -> PatternReference:
        mask = _pad_for_pattern(self.small_mask.astype(np.uint8), self.pattern_pads, mask=True)
        grey = _pad_for_pattern(_to_uint8(self.lightness), self.pattern_pads)
        return PatternReference(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), mask=mask)

    @functools.cached_property
    def blocks(self) -> _BlockReference:
        return _block_reference(self.want, self.seen, self.coverage, self.factor)

    @functools.cached_property
    def border(self) -> BorderFrame | None:
        """Where the border check looks, for a border region with a path (else ``None``)."""
        if self.region.kind != "border" or len(self.region.border_path or []) < 2:
            return None
        width = float(self.region.border_width_px or _default_border_width(self.mask))
        return border_frame(self.region, self.mask, self.canvas_size, width)


class ExpectedPose:
    """The expected side of a whole pose: an :class:`ExpectedRegion` per checked region."""

    def __init__(self, placement: PlacementMap, s_flat: np.ndarray) -> None:
        self.placement = placement
        self.s_flat = s_flat
        self.regions = [
            ExpectedRegion(placement, region, s_flat)
            for region in placement.regions
            if _checkable(placement, region)
        ]


# ------------------------------------------------------------------------------ pixels
@dataclass(frozen=True)
class Displacement:
    """Where a region's cloth was found, by :func:`find_displacement`."""

    dx: int
    dy: int
    """Output px: the output shows the region's cloth at ``(x + dx, y + dy)``."""
    match: float
    """Normalised correlation there (-1..1)."""
    match_in_place: float
    """Normalised correlation at the region's own place."""

    @property
    def misplaced(self) -> bool:
        return (
            max(abs(self.dx), abs(self.dy)) >= MISPLACED_MIN_SHIFT_PX
            and self.match >= MISPLACED_MIN_MATCH
            and self.match - self.match_in_place >= MISPLACED_MIN_GAIN
        )


@dataclass(frozen=True)
class RegionPixels:
    """One region of an output, aligned and reduced like its expected side, ready to measure."""

    expected: ExpectedRegion
    got: np.ndarray
    """RGB uint8 at the area-measure resolution: output aligned by ``shift``, de-shaded (the
    padding and pixels outside the mask are the expected ones)."""
    shift: tuple[int, int]
    """Whole-pixel (dx, dy) with ``output[y + dy, x + dx] ≈ expected[y, x]``."""
    seen: np.ndarray
    """RGB uint8 at the area-measure resolution: ``got`` before the shading was divided out
    (the output as it looks)."""

    @property
    def region(self) -> PlacementRegion:
        return self.expected.region

    @property
    def mask(self) -> np.ndarray:
        return self.expected.mask

    @property
    def rendered(self) -> np.ndarray:
        return self.expected.rendered

    @property
    def want(self) -> np.ndarray:
        return self.expected.want

    @property
    def coverage(self) -> np.ndarray:
        return self.expected.coverage


def prepare_region(
    output: np.ndarray, placement: PlacementMap, region: PlacementRegion, s_flat: np.ndarray
) -> RegionPixels:
    """Rebuild a region's expected pixels and align and reduce the output's to them."""
    return observe_region(output, ExpectedRegion(placement, region, s_flat))


def observe_region(output: np.ndarray, expected: ExpectedRegion) -> RegionPixels:
    """Align the output's region to the expected one, reduce it and remove the shading.

    Alignment is found on the *shaded* full-resolution images: de-shading a shifted output
    with the unshifted shading leaves fold edges in it that hide the shift. Outside the mask
    the output shows other regions or background; the expected pixels stand in there, so
    nothing outside the region enters a measure, even after downscaling. The reduction and
    the division by the shading are the expected side's, so a faithful output still matches
    exactly.
    """
    x, y, w, h = expected.region.bbox
    pad_y, pad_x = expected.pad
    s = MAX_ALIGN_SHIFT_PX
    padded = _crop_padded(output, (x - s, y - s, w + pad_x + 2 * s, h + pad_y + 2 * s))
    dx, dy = best_alignment(padded[: h + 2 * s, : w + 2 * s], expected.alignment)
    aligned = padded[s + dy : s + dy + h + pad_y, s + dx : s + dx + w + pad_x].copy()
    cv2.copyTo(expected.padded_rendered, expected.outside, aligned)
    if expected.factor > 1:
        aligned = _reduce(aligned, expected.factor)
    got = cv2.divide(aligned.astype(np.float32), expected.shade, dtype=cv2.CV_8U)
    return RegionPixels(expected, got, (dx, dy), aligned)


def find_displacement(output: np.ndarray, expected: ExpectedRegion) -> Displacement | None:
    """Where, within ``MISPLACED_SEARCH_PX``, the output shows the region's expected cloth.

    Masked normalised cross-correlation (``cv2.matchTemplate``, TM_CCOEFF_NORMED) of the
    expected luma against the output's, at ``MISPLACED_STEP`` resolution: invariant to a
    gain or offset of luma, so a colour cast is not taken for a move. ``None`` when the region
    has no structure to match (plain cloth) or is too small to search.
    """
    x, y, w, h = expected.region.bbox
    m, q = MISPLACED_SEARCH_PX, MISPLACED_STEP
    if min(w, h) < 4 * q:
        return None
    crop = _crop_padded(output, (x - m, y - m, w + 2 * m, h + 2 * m))
    half = ((w + 2 * m) // q, (h + 2 * m) // q)
    image = cv2.resize(_luma(crop), half, interpolation=cv2.INTER_AREA)
    size = (w // q, h // q)
    template = cv2.resize(_luma(expected.rendered), size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(expected.mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    inside = (mask >= 0.5).astype(np.uint8)
    if cv2.countNonZero(inside) < MIN_REGION_PIXELS:
        return None
    if cv2.meanStdDev(template, mask=inside)[1][0, 0] < 1.0:  # plain: nothing to match
        return None
    mask = inside.astype(np.float32)
    scores = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED, mask=mask)
    scores = np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    centre = m // q
    return Displacement(
        dx=(bx - centre) * q,
        dy=(by - centre) * q,
        match=float(best),
        match_in_place=float(scores[centre, centre]),
    )


def _reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks (the image's sides are multiples of ``factor``).

    OpenCV's INTER_AREA takes a fast path for whole factors: ~15x faster than a fractional
    factor, which cost a fifth of a whole validation before.
    """
    h, w = image.shape[:2]
    return cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)


def expected_unshaded(s_flat: np.ndarray, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The cloth the map asks for, before shading: float32 RGB (0..255), bbox-sized.

    Exactly what the local compose adapter samples: bilinear on the ``uint8`` S_flat (so the
    sample is rounded to whole levels before shading, as there), reflected at S_flat's edges.
    """
    sampled = cv2.remap(
        s_flat,
        arrays["map_x"].astype(np.float32, copy=False),
        arrays["map_y"].astype(np.float32, copy=False),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    return sampled.astype(np.float32)


def alignment_reference(expected: np.ndarray, mask: np.ndarray) -> AlignmentReference:
    """The expected side of :func:`best_alignment` for a rendered region and its mask."""
    s = MAX_ALIGN_SHIFT_PX
    h = mask.shape[0]
    inside = cv2.erode(mask.view(np.uint8), np.ones((2 * s + 3, 2 * s + 3), np.uint8))
    if not inside.any():
        inside = mask.astype(np.uint8)
    edges = _edges(_luma(expected))
    scale = cv2.mean(edges, mask=inside)[0]
    rows = ALIGN_ROW_STEP if h >= 4 * ALIGN_ROW_STEP else 1
    if scale > 0:
        edges = edges[::rows] / np.float32(scale)
    else:
        edges = np.zeros((0, 0), np.float32)  # no structure: nothing to align on
    return AlignmentReference(edges, inside, rows)


def best_alignment(padded: np.ndarray, reference: AlignmentReference) -> tuple[int, int]:
    """Whole-pixel (dx, dy), |dx|, |dy| ≤ ``MAX_ALIGN_SHIFT_PX``, best matching the expected.

    ``padded`` is the output crop grown by ``MAX_ALIGN_SHIFT_PX`` on every side. Compares
    gradient magnitudes of luma, each side divided by its mean over the region, so that a
    colour cast (an offset or gain of luma, even a swapped order of light and dark) does not
    pull the alignment; the region's outline, where the expected side has no content, is left
    out. Hill-climbs the masked mean absolute difference from (0, 0) over the 8 neighbours
    (ties go to the smaller shift); on cloth (pattern periods of several px) the cost is
    unimodal within a couple of px.
    """
    if reference.edges.size == 0:
        return 0, 0
    s = MAX_ALIGN_SHIFT_PX
    h, w = reference.inside.shape
    moved_edges = _edges(_luma(padded))
    scale_moved = cv2.mean(moved_edges[s : s + h, s : s + w], mask=reference.inside)[0]
    if scale_moved <= 0:
        return 0, 0
    moved_edges = moved_edges / np.float32(scale_moved)
    rows = reference.rows
    inside = reference.inside[::rows]
    cache: dict[tuple[int, int], float] = {}

    def cost(dx: int, dy: int) -> float:
        if (dx, dy) not in cache:
            moved = moved_edges[s + dy : s + dy + h : rows, s + dx : s + dx + w]
            cache[(dx, dy)] = cv2.mean(cv2.absdiff(moved, reference.edges), mask=inside)[0]
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


# ------------------------------------------------------------------------------ measures
@dataclass(frozen=True)
class Measures:
    """Raw (unrounded) measures of one region."""

    ssim: float
    delta_e: float
    """Mean ΔE2000 over colour blocks (local colour)."""
    mean_colour_delta_e: float
    """ΔE2000 between the region's mean colours (a cast over the whole region)."""
    pattern: float
    mean_lab: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """The output's mean colour in the region (CIELAB)."""
    expected_lab: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """The expected mean colour of the region (CIELAB)."""
    pixels: int = 0
    changed_fraction: float = 0.0
    """Share of colour blocks whose ΔE2000 exceeds ``CHANGED_BLOCK_DELTA_E``."""
    unchanged_delta_e: float = 0.0
    """Mean ΔE2000 of the other blocks."""
    continuity: float | None = None
    max_offset: float | None = None
    breaks: int | None = None


def measure_area(item: RegionPixels) -> Measures:
    """SSIM, ΔE and pattern score of one region (aligned, de-shaded, reduced)."""
    expected = item.expected
    small_mask = expected.small_mask
    lab_got = rgb_to_lab(item.got)
    ssim = structural_similarity(
        structure_channel(lab_got, expected.structure, small_mask),
        expected.structure.channel,
        data_range=255.0,
        mask=expected.ssim_mask,
        win_size=expected.window,
    )
    grey = _to_uint8(lightness_channel(lab_got, expected.lightness, small_mask))
    grey = _pad_for_pattern(grey, expected.pattern_pads)
    pattern = expected.pattern.similarity(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB))
    colour = _block_colour(item.got, item.seen, expected.blocks)
    mean_colour_delta_e = float(delta_e_ciede2000(colour.mean_got[None], colour.mean_want[None])[0])
    return Measures(
        ssim=_finite(ssim, "SSIM", item.region),
        delta_e=_finite(colour.delta_e, "ΔE2000", item.region),
        mean_colour_delta_e=_finite(mean_colour_delta_e, "ΔE2000", item.region),
        pattern=_finite(pattern, "pattern score", item.region),
        mean_lab=tuple(float(v) for v in colour.mean_got),
        expected_lab=tuple(float(v) for v in colour.mean_want),
        pixels=int(np.count_nonzero(item.mask)),
        changed_fraction=colour.changed_fraction,
        unchanged_delta_e=colour.unchanged_delta_e,
    )


@dataclass(frozen=True)
class BorderFrame:
    """Where a border region is checked: the crop around it and what in it is the band.

    Depends only on the region and the canvas, so :class:`ExpectedRegion` keeps it.
    """

    rect: tuple[int, int, int, int]
    """(x, y, w, h) of the crop in the canvas (may reach past its edges)."""
    factor: int
    """Whole-number reduction of the check (1 or ``BORDER_MAX_REDUCTION``)."""
    band: np.ndarray
    """bool, crop-sized: the region's own pixels."""
    near: np.ndarray
    """bool, crop-sized: within the context distance of the band (band included)."""
    path: np.ndarray
    """The band's centre line in the crop's (reduced) pixel coordinates, ends trimmed."""
    width: float
    """Band width in (reduced) pixels."""


def border_frame(
    region: PlacementRegion, mask: np.ndarray, canvas_size: tuple[int, int], width: float
) -> BorderFrame:
    """The crop, band and context of a border check (see :func:`measure_border`)."""
    x, y, w, h = region.bbox
    margin = int(math.ceil(BORDER_SEARCH_WIDTHS * width + BORDER_SEARCH_EXTRA_PX))
    cw, ch = canvas_size
    factor = BORDER_MAX_REDUCTION if width >= BORDER_MAX_REDUCTION * BORDER_MIN_WIDTH_PX else 1
    x0, x1 = _whole_blocks(x - margin, x + w + margin, cw, factor)
    y0, y1 = _whole_blocks(y - margin, y + h + margin, ch, factor)
    band = np.zeros((y1 - y0, x1 - x0), np.uint8)
    band[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = mask
    r = max(BORDER_CONTEXT_PX, int(round(width * BORDER_CONTEXT_WIDTHS)))
    # Within r px of the band: one distance transform, linear in the pixels, where a disc
    # dilation of a wide border's r (30 px and more) cost ~10 % of a whole validation.
    outside = (band == 0).astype(np.uint8)
    near = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= r
    path = _trim_path(np.asarray(region.border_path or [], np.float64), width * BORDER_END_TRIM)
    path = path - (x0, y0)
    if factor > 1:
        path = (path + 0.5) / factor - 0.5  # pixel centres
        width = width / factor
    return BorderFrame((x0, y0, x1 - x0, y1 - y0), factor, band > 0, near, path, width)


def measure_border(
    output: np.ndarray,
    expected: np.ndarray,
    trusted: np.ndarray,
    item: RegionPixels,
) -> BorderContinuity:
    """Border continuity of a border region: drift of the band along its path.

    ``expected`` is the whole expected canvas and ``trusted`` (canvas-sized, bool) the cloth
    that passed its own area checks. The check may use the band and trusted cloth within
    ``max(BORDER_CONTEXT_PX, width * BORDER_CONTEXT_WIDTHS)`` of it, whose edges against the
    band pin its position (a plain border has no other structure to follow). The output is
    first seen through its best affine colour map onto the expected (least squares over those
    pixels): colour is ΔE's job, and a tint would otherwise lower the correlation of
    low-contrast border profiles. Elsewhere the expected side takes the (colour-mapped)
    output's own pixels, so that what sampling blends in at the edges is the same on both
    sides.

    The output is taken with the region's whole-pixel alignment (at most
    ``MAX_ALIGN_SHIFT_PX``), so a render that is off by a pixel everywhere is not read as a
    drifting border (on a periodic border that pixel could otherwise resolve to a period).
    The crop reaches ``1.25 * width + 12`` px beyond the region's bbox, the metric's sideways
    search, so a border pushed out of its bbox is still found. Both sides keep their shading
    (the metric correlates cross-profiles, which a gain does not change). Borders at least
    twice ``BORDER_MIN_WIDTH_PX`` wide are checked at half resolution
    (``BORDER_MAX_REDUCTION``); offsets are reported in output pixels.
    """
    frame = item.expected.border
    x0, y0, w, h = frame.rect
    dx, dy = item.shift
    crop = _crop_padded(output, (x0 + dx, y0 + dy, w, h))
    want = _crop_padded(expected, frame.rect)
    context = _crop_padded(trusted.view(np.uint8), frame.rect) > 0
    inside = frame.band | (frame.near & context)
    if frame.factor > 1:
        crop, want = _reduce(crop, frame.factor), _reduce(want, frame.factor)
        inside = _reduce(inside.astype(np.float32), frame.factor) >= 0.5
    mapped = _to_uint8(_affine_colour_fit(crop, want.astype(np.float32), inside))
    want = np.where(inside[..., None], want, mapped)
    result = border_continuity(
        mapped, want, [(float(px), float(py)) for px, py in frame.path], width=frame.width,
        mask=inside,
    )  # fmt: skip
    if frame.factor > 1:
        result = result.model_copy(update={"max_offset_px": result.max_offset_px * frame.factor})
    return result


def structured_mask(luma: np.ndarray, mask: np.ndarray, win: int) -> np.ndarray:
    """Where SSIM should be averaged: the region's pixels near expected structure.

    Mean SSIM over a region of sparse motifs is dominated by the plain ground between them,
    where a blurred output and the expected cloth agree; so SSIM is averaged where the
    expected luma has local contrast (std ≥ ``STRUCTURE_STD_LEVELS`` over SSIM's Gaussian
    window), grown by the window so the metric's own erosion keeps those pixels. On cloth
    with too little such structure (plain weave) the whole region is used.
    """
    values = luma.astype(np.float32)
    mean = cv2.GaussianBlur(values, (0, 0), SSIM_SIGMA_PX)
    square = cv2.GaussianBlur(values * values, (0, 0), SSIM_SIGMA_PX)
    std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    structure = ((std >= STRUCTURE_STD_LEVELS) & mask).astype(np.uint8)
    if np.count_nonzero(structure) < STRUCTURE_MIN_FRACTION * np.count_nonzero(mask):
        return mask
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * win + 1, 2 * win + 1))
    return (cv2.dilate(structure, grow) > 0) & mask


def structure_target(lab_want: np.ndarray, mask: np.ndarray) -> StructureTarget:
    """The expected side of the SSIM channel: a grey channel that shows the pattern whatever
    its colours.

    The expected cloth (CIELAB) is projected on its principal colour axis (the direction
    along which it varies most): luma alone misses motifs that differ from their ground in
    hue but not in lightness (pastel dots on a green ground). It is drawn in grey levels
    around mid-grey (2.55 per Lab unit, less if three standard deviations would leave
    0..255).
    """
    inside = mask.astype(bool)
    axis, mean, spread = _principal_axis(lab_want, inside)
    gain = min(L_STAR_TO_GREY, STRUCTURE_HALF_RANGE / (3.0 * max(spread, 1e-6)))
    weights = np.append(axis * gain, STRUCTURE_MID_GREY - gain * (mean @ axis))
    target = _project(lab_want, weights)
    return StructureTarget(axis, target, _to_uint8(target))


def structure_channel(
    lab_got: np.ndarray, expected: StructureTarget, mask: np.ndarray
) -> np.ndarray:
    """The output's SSIM channel, mapped onto the expected one (uint8).

    The output (CIELAB) is projected on the expected principal axis and on its own (which
    follows a colour cast or hue rotation, even one clipped at the edge of the gamut);
    whichever correlates better is mapped onto the expected channel by least squares (a gain
    and an offset). A pattern that is blurred, mirrored or replaced correlates poorly either
    way, so its fitted contrast and structure stay low. Outside the mask it is the expected.
    """
    inside = mask.astype(bool)
    axis_got, _, _ = _principal_axis(lab_got, inside)
    fits = [
        _affine_fit_1d(_project(lab_got, np.append(axis, 0.0)), expected.target, inside)
        for axis in (expected.axis, axis_got)
    ]
    fitted = max(fits, key=lambda fit: fit[1])[0]
    fitted[~inside] = expected.target[~inside]
    return _to_uint8(fitted)


def lightness_target(lab_want: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The expected side of the pattern channel: L* in grey levels (float32).

    A texture descriptor compares lightness structure, and lightness survives the chroma
    subsampling of JPEG and WebP (at q90 the principal-colour channel lost up to 0.2 of
    pattern score on narrow borders, L* less than 0.01). The expected side is drawn around a
    fixed grey (``PATTERN_GREY``, 2.55 levels per L* unit unless the contrast would not fit):
    the descriptor's noise floor is a fraction of the local mean, so this fixes it at about
    2.3 L* units of RMS contrast for every cloth, dark or light: weave noise on plain cloth
    then compares as plain, whatever a colour cast did to it.
    """
    inside = mask.astype(bool)
    lightness = np.ascontiguousarray(lab_want[..., 0])
    sample = _sample(lightness, inside)
    spread = float(np.std(sample))
    gain = min(L_STAR_TO_GREY, PATTERN_HALF_RANGE / (3.0 * max(spread, 1e-6)))
    return (lightness - np.float32(sample.mean())) * np.float32(gain) + np.float32(PATTERN_GREY)


def lightness_channel(lab_got: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The output's L* mapped onto the expected pattern channel by least squares (float32):
    the gain and offset undo a lightness cast. Outside the mask it is the expected."""
    inside = mask.astype(bool)
    fitted, _ = _affine_fit_1d(np.ascontiguousarray(lab_got[..., 0]), target, inside)
    fitted[~inside] = target[~inside]
    return fitted


def _project(lab: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``lab @ weights[:3] + weights[3]`` per pixel, float32 ``H x W``."""
    out = cv2.transform(lab.astype(np.float32, copy=False), weights.astype(np.float32)[None, :])
    return out if out.ndim == 2 else out[..., 0]


def _principal_axis(lab: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(unit principal axis, mean colour, std along the axis) of the colours inside ``mask``."""
    pixels = _sample(lab, mask).astype(np.float64)
    mean = pixels.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False) + 1e-9 * np.eye(3))
    axis = vectors[:, -1] * (1.0 if vectors[0, -1] >= 0 else -1.0)
    return axis, mean, float(np.std((pixels - mean) @ axis))


def _affine_fit_1d(
    source: np.ndarray, target: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, float]:
    """(``a * source + b`` with (a, b) the least-squares fit to ``target``, |correlation|).

    Both over ``mask``; the sign of ``a`` absorbs the arbitrary orientation of an axis.
    """
    x = _sample(source, mask).astype(np.float64)
    y = _sample(target, mask).astype(np.float64)
    var_x, var_y = float(np.var(x)), float(np.var(y))
    cov = float(np.mean((x - x.mean()) * (y - y.mean())))
    slope = cov / var_x if var_x > 0 else 0.0
    offset = float(y.mean() - slope * x.mean())
    corr = abs(cov) / math.sqrt(var_x * var_y) if var_x > 0 and var_y > 0 else 0.0
    return (source * np.float32(slope) + np.float32(offset)).astype(np.float32), corr


def _sample(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Up to about ``COLOUR_FIT_SAMPLES`` evenly spaced pixels of ``image`` inside ``mask``."""
    total = int(np.count_nonzero(mask))
    stride = max(1, int(math.sqrt(total / COLOUR_FIT_SAMPLES)))
    picked = image[::stride, ::stride][mask[::stride, ::stride]]
    return picked if len(picked) >= 4 else image[mask]


# ------------------------------------------------------------------------------ judging
PartColours = dict[str, tuple[float, float, float]]
"""Mean CIELAB colour of each part visible in the pose, as the output shows it."""


def part_colours(regions: list[PlacementRegion], measures: list[Measures]) -> PartColours:
    """Pixel-weighted mean colour of each part in the output, over the regions that show it."""
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for region, m in zip(regions, measures, strict=True):
        sums[region.part] = sums.get(region.part, np.zeros(3)) + np.asarray(m.mean_lab) * m.pixels
        counts[region.part] = counts.get(region.part, 0) + m.pixels
    return {
        part: tuple(float(v) for v in total / max(counts[part], 1)) for part, total in sums.items()
    }


def other_cloth(
    region: PlacementRegion, m: Measures, colours: PartColours
) -> tuple[str, float] | None:
    """The other part whose cloth the region shows, if its colour is much nearer than its own.

    Returns ``(part, ΔE2000)`` when the region's colour in the output is less than
    ``OTHER_CLOTH_RATIO`` times as far (and at most ``OTHER_CLOTH_MAX_DELTA_E``) from another
    visible part's colour *in the output* as from the region's own expected colour (a pallu painted with body cloth, a border replaced
    by the body beside it), else ``None``. Comparing with the other parts as the output shows
    them keeps a cast over the whole image from looking like a swap: both sides move with it.
    """
    own = {"border_top", "border_bottom"} if region.part.startswith("border") else {region.part}
    best: tuple[str, float] | None = None
    here = np.asarray(m.mean_lab, np.float32)[None]
    for part, lab in colours.items():
        if part in own:
            continue
        de = float(delta_e_ciede2000(here, np.asarray(lab, np.float32)[None])[0])
        if best is None or de < best[1]:
            best = (part, de)
    if best is not None and best[1] < min(
        OTHER_CLOTH_MAX_DELTA_E, OTHER_CLOTH_RATIO * m.mean_colour_delta_e
    ):
        return best
    return None


def judge(
    region: PlacementRegion,
    m: Measures,
    limits: RegionThresholds,
    *,
    colours: PartColours | None = None,
) -> tuple[list[FailureKind], list[str]]:
    """Failure kinds and retry-ready sentences for one region's measures.

    Precedence, so that one defect gives one kind: a border whose geometry failed (bent,
    broken, missing) also mismatches in colour and pattern inside its band; a blurred or
    swapped pattern also changes the colour of 8 px blocks. Those consequences are not
    reported as further kinds; a colour shift is still reported beside a structural failure
    when the region's *mean* colour moved too. A pallu or border region whose colour is off
    and nearer another part's (``colours``) shows the wrong cloth: ``pallu_mismatch`` or
    ``border_missing``, not a colour shift.
    """
    failures: list[FailureKind] = []
    reasons: list[str] = []
    name = region.name

    def add(kind: FailureKind, reason: str) -> None:
        if kind not in failures:
            failures.append(kind)
        reasons.append(reason)

    wrong = None
    if region.kind != "body" and m.mean_colour_delta_e > limits.max_delta_e and colours:
        wrong = other_cloth(region, m, colours)
    shows = "" if wrong is None else f"the {_PART_WORDS.get(wrong[0], wrong[0])}'s cloth"

    if m.continuity is not None:
        if m.continuity <= BORDER_MISSING_CONTINUITY or wrong:
            if wrong:
                detail = (
                    f"its band shows {shows} (its colour is ΔE2000 {m.mean_colour_delta_e:.1f} "
                    f"from the border's and {wrong[1]:.1f} from the "
                    f"{_PART_WORDS.get(wrong[0], wrong[0])}'s)"
                )
            else:
                detail = (
                    f"it is found along only {m.continuity:.0%} of its length "
                    f"(limit {limits.min_border_continuity:.0%})"
                )
            add("border_missing", f"Border '{name}' is missing: {detail}.")
        else:
            if m.max_offset is not None and m.max_offset > limits.max_border_offset_px:
                add(
                    "border_distortion",
                    f"Border '{name}' is distorted: it drifts up to {m.max_offset:.1f} px from "
                    f"its path (limit {limits.max_border_offset_px:.1f} px).",
                )
            if m.continuity < limits.min_border_continuity:
                where = ""
                if m.breaks:
                    where = f" in {m.breaks} place{'s' if m.breaks != 1 else ''}"
                add(
                    "border_distortion",
                    f"Border '{name}' is broken{where}: only {m.continuity:.0%} of its length "
                    f"is intact (limit {limits.min_border_continuity:.0%}).",
                )
        if failures:
            return failures, reasons

    if region.kind == "pallu" and wrong:
        add(
            "pallu_mismatch",
            f"Region '{name}' shows {shows} instead of the pallu's: its colour is ΔE2000 "
            f"{m.mean_colour_delta_e:.1f} from the pallu's (limit {limits.max_delta_e:.1f}) "
            f"and {wrong[1]:.1f} from the {_PART_WORDS.get(wrong[0], wrong[0])}'s.",
        )
    structure_kind: FailureKind = {
        "pallu": "pallu_mismatch",
        "border": "border_distortion",
        "body": "pattern_loss",
    }[region.kind]
    if m.pattern < limits.min_pattern_score:
        add(
            structure_kind,
            _pattern_sentence(region, "pattern score", m.pattern, limits.min_pattern_score),
        )
    if m.ssim < limits.min_ssim:
        add(
            structure_kind,
            _pattern_sentence(region, "structural similarity", m.ssim, limits.min_ssim),
        )
    if wrong and region.kind == "pallu":
        return failures, reasons
    local = m.unchanged_delta_e <= limits.max_delta_e
    if not failures and local and limits.max_changed_share < m.changed_fraction:
        if m.changed_fraction < LOCAL_CHANGE_FRACTION:
            add(structure_kind, _local_change_sentence(region, m, limits))
            return failures, reasons
    colour = m.mean_colour_delta_e if failures else m.delta_e
    if colour > limits.max_delta_e and region.kind == "border" and not failures:
        local = m.unchanged_delta_e <= limits.max_delta_e
        if local and m.changed_fraction < LOCAL_CHANGE_FRACTION:
            add(
                "border_distortion",
                f"Border '{name}' is broken: {m.changed_fraction:.0%} of its band shows other "
                f"cloth (mean ΔE2000 {m.delta_e:.1f}, limit {limits.max_delta_e:.1f}).",
            )
            return failures, reasons
    if colour > limits.max_delta_e:
        add(
            "color_shift",
            f"Region '{name}' changed colour: mean ΔE2000 {m.delta_e:.1f} "
            f"(limit {limits.max_delta_e:.1f}).",
        )
    return failures, reasons


_PART_WORDS = {"body": "body", "pallu": "pallu", "border_top": "border", "border_bottom": "border"}


def _local_change_sentence(region: PlacementRegion, m: Measures, limits: RegionThresholds) -> str:
    share = f"{m.changed_fraction:.1%} of its {'band' if region.kind == 'border' else 'area'}"
    what = (
        f"(8 px blocks more than ΔE2000 {CHANGED_BLOCK_DELTA_E:.0f} off; "
        f"limit {limits.max_changed_share:.1%})."
    )
    if region.kind == "border":
        return f"Border '{region.name}' is broken: {share} shows other cloth {what}"
    if region.kind == "pallu":
        return f"Region '{region.name}' does not show the pallu's cloth in {share} {what}"
    return f"Region '{region.name}' shows other cloth or motifs in {share} {what}"


def _pattern_sentence(region: PlacementRegion, measure: str, value: float, limit: float) -> str:
    what = f"({measure} {value:.2f}, limit {limit:.2f})."
    if region.kind == "pallu":
        return f"Region '{region.name}' does not show the pallu's pattern {what}"
    if region.kind == "border":
        return f"Border '{region.name}' does not show the border's pattern {what}"
    return f"Region '{region.name}' lost the cloth's pattern {what}"


def _misplaced_or(check: RegionCheck, found: Displacement | None) -> RegionCheck:
    """A failed pallu region whose own cloth shows nearby, displaced, is ``misplaced``: that
    one kind replaces the mismatch its displaced cloth causes, so the retry is told to keep
    the cloth in place rather than to change the pallu."""
    if found is None or not found.misplaced:
        return check
    reason = (
        f"Region '{check.region}' is misplaced: its cloth appears {found.dx:+d} px across and "
        f"{found.dy:+d} px down from where the placement map puts it."
    )
    return check.model_copy(update={"failures": ["misplaced"], "reasons": [reason]})


def _region_check(
    region: PlacementRegion, m: Measures, limits: RegionThresholds, colours: PartColours
) -> RegionCheck:
    failures, reasons = judge(region, m, limits, colours=colours)
    return RegionCheck(
        region=region.name,
        kind=region.kind,
        part=region.part,
        bbox=tuple(int(v) for v in region.bbox),
        ssim=_r(m.ssim),
        delta_e=_r(m.delta_e),
        pattern_score=_r(m.pattern),
        border_continuity=None if m.continuity is None else _r(m.continuity),
        border_max_offset_px=None if m.max_offset is None else _r(m.max_offset),
        border_breaks=m.breaks,
        passed=not failures,
        failures=failures,
        reasons=reasons,
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


def _checkable(placement: PlacementMap, region: PlacementRegion) -> bool:
    """Whether a region owns enough pixels, in a wide enough bbox, to be judged."""
    _, _, w, h = region.bbox
    if min(w, h) < MIN_REGION_SIDE_PX:
        return False
    return int(np.count_nonzero(placement.mask(region.name))) >= MIN_REGION_PIXELS


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


def _trim_path(path: np.ndarray, trim: float) -> np.ndarray:
    """The polyline without ``trim`` px of arc length at each end (unchanged if too short)."""
    if len(path) < 2:
        return path
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
    length = float(arc[-1])
    if length <= 4 * trim or trim <= 0:
        return path
    keep = (arc > trim) & (arc < length - trim)
    ends = [
        [np.interp(t, arc, path[:, 0]), np.interp(t, arc, path[:, 1])]
        for t in (trim, length - trim)
    ]
    return np.vstack([ends[0], path[keep], ends[1]])


def _affine_colour_fit(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` (3 channels) through the affine map that best gives ``target`` over ``mask``.

    ``target`` is float32, ``H x W`` (one channel) or ``H x W x C``; least squares on at most
    ``COLOUR_FIT_SAMPLES`` evenly spaced pixels of the mask. Returns float32 of target's shape.
    """
    total = int(np.count_nonzero(mask))
    if total < 4:  # nothing to fit (never for a checked region): identity
        return _luma(source) if target.ndim == 2 else source.astype(np.float32)
    stride = max(1, int(math.sqrt(total / COLOUR_FIT_SAMPLES)))
    rows, cols = np.nonzero(mask[::stride, ::stride])
    if rows.size < 4:
        rows, cols = np.nonzero(mask)
    else:
        rows, cols = rows * stride, cols * stride
    design = np.concatenate(
        [source[rows, cols].astype(np.float64), np.ones((rows.size, 1))], axis=1
    )
    coef, *_ = np.linalg.lstsq(design, target[rows, cols].astype(np.float64), rcond=None)
    matrix = np.atleast_2d(coef.T).astype(np.float32)  # channels_out x 4
    mapped = cv2.transform(source.astype(np.float32), matrix)
    return mapped.reshape(target.shape)


def _whole_blocks(start: int, stop: int, size: int, block: int) -> tuple[int, int]:
    """``[start, stop)`` clipped to ``[0, size)``, then grown to a whole number of ``block``
    px so that it reduces by a whole factor (past the image's end if need be: crop it with
    :func:`_crop_padded`)."""
    start, stop = max(0, start), min(size, stop)
    return start, stop + (-(stop - start) % block)


def _crop_padded(image: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """``image[y:y+h, x:x+w]`` with the rectangle allowed past the edges (edges replicated)."""
    x, y, w, h = rect
    ih, iw = image.shape[:2]
    cx0, cy0 = max(0, x), max(0, y)
    cx1, cy1 = min(iw, x + w), min(ih, y + h)
    crop = image[cy0:cy1, cx0:cx1]
    pads = (cy0 - y, y + h - cy1, cx0 - x, x + w - cx1)
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    return crop


def _area_factor(shape: tuple[int, int]) -> int:
    """Whole-number reduction for the area measures: about ``AREA_MIN_REDUCTION`` or enough
    for the long side to fit ``AREA_MAX_SIDE_PX`` (rounded), but never so much that the short
    side falls below ``AREA_MIN_SHORT_SIDE_PX`` (narrow regions keep enough pattern-descriptor
    cells and whole SSIM windows)."""
    h, w = shape
    wanted = round(max(AREA_MIN_REDUCTION, max(h, w) / AREA_MAX_SIDE_PX))
    return max(1, min(wanted, min(h, w) // AREA_MIN_SHORT_SIDE_PX))


@dataclass(frozen=True)
class _BlockColour:
    delta_e: float
    changed_fraction: float
    unchanged_delta_e: float
    mean_got: np.ndarray
    mean_want: np.ndarray


def _block_reference(
    want: np.ndarray, seen: np.ndarray, coverage: np.ndarray, factor: int
) -> _BlockReference:
    """The expected side of the block colours: blocks of about ``COLOR_BLOCK_PX`` output px.

    A block is a whole number of reduced pixels (``round(COLOR_BLOCK_PX / factor)``, at least
    one), so its mean is a fast whole-factor reduction. Blocks count by how much of them lies
    in the region (at least ``MIN_BLOCK_COVERAGE``).
    """
    block = max(1, round(COLOR_BLOCK_PX / factor))
    lab = rgb_to_lab(_blocks(want, block))
    seen_lab = rgb_to_lab(_blocks(seen, block))
    cover = _blocks(coverage, block)
    keep = cover >= MIN_BLOCK_COVERAGE
    if not keep.any():
        keep = cover > 0
    weight = cover[keep].astype(np.float64)
    mean = np.average(lab[keep], axis=0, weights=weight).astype(np.float32)
    return _BlockReference(block, keep, lab[keep], seen_lab[keep], weight, mean)


def _block_colour(got: np.ndarray, seen: np.ndarray, expected: _BlockReference) -> _BlockColour:
    """Colour of the output's blocks against the expected ones (see :func:`_block_reference`).

    Mean ΔE2000 between de-shaded block means, and its mean over the blocks that did not
    change; the mean Lab of each side. A block *changed* (shows other cloth) when it differs
    by more than ``CHANGED_BLOCK_DELTA_E`` as it looks, shaded: dividing by a deep fold's
    shading (0.4 and less) also multiplies what JPEG and sensor noise did to a dark block,
    and on pleats that alone passed ΔE2000 10 in 2 % of the blocks.
    """
    lab = rgb_to_lab(_blocks(got, expected.block))[expected.keep]
    seen_lab = rgb_to_lab(_blocks(seen, expected.block))[expected.keep]
    weight = expected.weight
    per_block = delta_e_ciede2000(lab, expected.lab).astype(np.float64)
    is_changed = delta_e_ciede2000(seen_lab, expected.seen_lab) > CHANGED_BLOCK_DELTA_E
    unchanged = 0.0
    if not is_changed.all():
        unchanged = float(np.average(per_block[~is_changed], weights=weight[~is_changed]))
    return _BlockColour(
        delta_e=float(np.average(per_block, weights=weight)),
        changed_fraction=float(np.average(is_changed, weights=weight)),
        unchanged_delta_e=unchanged,
        mean_got=np.average(lab, axis=0, weights=weight).astype(np.float32),
        mean_want=expected.mean,
    )


def _blocks(image: np.ndarray, block: int) -> np.ndarray:
    """Means of ``block`` x ``block`` tiles; the image is zero-padded to whole tiles (a padded
    tile's coverage says how much of it is real)."""
    if block == 1:
        return image
    h, w = image.shape[:2]
    if h % block or w % block:
        image = cv2.copyMakeBorder(
            image, 0, -h % block, 0, -w % block, cv2.BORDER_CONSTANT, value=0
        )
    return _reduce(image, block)


def _pattern_pads(shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding up to the pattern descriptor's minimum side.

    Regions thinner than ``PATTERN_MIN_SIDE_PX`` are padded (reflected pixels, outside the
    mask) rather than skipped: a thin border still gets a pattern score.
    """
    h, w = shape
    pad_y = max(0, PATTERN_MIN_SIDE_PX - h)
    pad_x = max(0, PATTERN_MIN_SIDE_PX - w)
    return pad_y // 2, pad_y - pad_y // 2, pad_x // 2, pad_x - pad_x // 2


def _pad_for_pattern(
    image: np.ndarray, pads: tuple[int, int, int, int], *, mask: bool = False
) -> np.ndarray:
    if not any(pads):
        return image
    if mask:
        return cv2.copyMakeBorder(image, *pads, cv2.BORDER_CONSTANT, value=0)
    return cv2.copyMakeBorder(image, *pads, cv2.BORDER_REFLECT)


def _window(shape: tuple[int, int]) -> int:
    """``SSIM_WIN_SIZE``, or the largest odd size ≥ 3 that fits a small image."""
    side = min(shape)
    if side >= SSIM_WIN_SIZE:
        return SSIM_WIN_SIZE
    return max(3, side - 1 if side % 2 == 0 else side)


def _edges(luma: np.ndarray) -> np.ndarray:
    """Gradient magnitude (3x3 Sobel) of a float32 image."""
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma as float32 (0..255)."""
    return cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)


def _default_border_width(mask: np.ndarray) -> float:
    """Border width when the map does not give one: twice the mask's largest inner radius."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    return float(max(1.0, 2.0 * dist.max()))


def _finite(value: float, what: str, region: PlacementRegion) -> float:
    """A metric that returned NaN or infinity is a bug, not a verdict on the image."""
    value = float(value)
    if not math.isfinite(value):
        raise InternalError(
            "Validation could not measure the image.",
            detail=f"{what} of region {region.name!r} is {value}",
        )
    return value


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Round half to even and saturate to 0..255, as the renderer's ``np.rint`` + clip.

    OpenCV's saturating conversion rounds half to even too, in one pass.
    """
    return cv2.convertScaleAbs(cv2.max(values.astype(np.float32, copy=False), 0.0))


def _r(value: float) -> float:
    return round(float(value), FLOAT_DECIMALS)
