"""Named defects: deliberate damage to a rendered pose image, guided by its placement map.

They serve failure injection (``SAREEFLOW_FAILURE_INJECTION``, DESIGN §6/§9) and the validation
defect corpus (DESIGN §8). Each defect imitates a failure a generative adapter really makes —
a bent or dropped border, a colour cast, a smeared pattern, the wrong cloth in the pallu — and
changes only pixels; nothing marks the image as damaged, so validation has to find the damage
by measurement.

Every defect is deterministic in ``seed`` (``np.random.default_rng(seed)``; no global state)
and scales with ``severity`` (1 = the documented strength, which validation must catch with the
default thresholds). :data:`LEVELS` names the graded severities the validation benchmark
enumerates (``mild``, ``clear``, ``strong``); ``clear`` is the clearly visible size at which
validation must catch a defect (DESIGN §8). Colour defects are sized by the CIEDE2000
difference they make on the cloth's own pixels, not by a nominal step: the same hue rotation
moves a saturated red far and a cream hardly at all.

Benign changes that must *pass* validation (JPEG, noise, a 1-pixel shift, exposure) live in
:mod:`sareeflow.benign`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from metrics import delta_e_ciede2000, rgb_to_lab
from sareeflow.errors import InvalidInput
from sareeflow.models import PlacementMap, PlacementRegion, RegionKind

DefectFn = Callable[[np.ndarray, PlacementMap, np.random.Generator, float], np.ndarray]
"""``(image copy, placement, rng, severity) -> damaged image`` (may modify its input copy)."""

BEND_AMPLITUDE_PX = (8.0, 12.0)
"""Sideways bend of a border at severity 1 (px), drawn uniformly from this range."""
BEND_STRETCH_FRACTION = 0.4
"""Fraction of the border's length that the bend spans (a raised-cosine bump)."""
BEND_CENTRE_RANGE = (0.35, 0.65)
"""Where along the border (fraction of its length) the bend is centred."""
BEND_FALLOFF_PER_PX = 3.0
"""The warp fades to zero over this many px per px of amplitude beside the border, so the
neighbouring cloth is dragged along smoothly (gradient ≤ 1/3: no fold-over)."""
COLOR_SHIFT_DELTA_E = 8.0
"""Mean CIEDE2000 colour difference of the colour cast at severity 1."""
COLOR_SHIFT_MAX_LAB = 60.0
"""Largest Lab vector length tried when calibrating the cast (gamut limit)."""
COLOR_SHIFT_SAMPLE = 5_000
"""Pixels sampled to calibrate the cast's strength."""
HUE_ROTATION_DELTA_E = 8.0
"""Mean CIEDE2000 difference of the hue rotation at severity 1; the angle (at most
``HUE_ROTATION_MAX_DEG``) is found on the cloth's own pixels."""
HUE_ROTATION_MAX_DEG = 180.0
"""Largest hue rotation tried (degrees): near-grey cloth cannot reach every target."""
SATURATION_LOSS_DELTA_E = 8.0
"""Mean CIEDE2000 difference of the saturation loss at severity 1; the share of chroma taken
away (at most all of it) is found on the cloth's own pixels."""
BORDER_RECOLOUR_DELTA_E = 8.0
"""Mean CIEDE2000 difference of the border recolouring at severity 1, over border pixels."""
PATTERN_ZOOM_PER_SEVERITY = 0.5
"""``pattern_rescaled`` draws the body pattern ``1 + 0.5 × severity`` times larger: 1.5x at
severity 1, 1.25x at 0.5 (a motif a quarter larger than the real cloth's is plain to see)."""
MOTIF_SPACING_FRACTION = (0.06, 0.14)
"""Spacing of the replacement motifs, as a fraction of S_flat's height (the range of real
body motifs, so the new pattern is of a plausible size, only not the cloth's)."""
MOTIF_RADIUS_FRACTION = 0.3
"""Replacement motif radius as a fraction of its spacing."""
MOTIF_SHAPES = ("ring", "cross", "diamond", "star")
"""Replacement motif shapes: none is a shape the cloth generator weaves (butti, dot, paisley,
stripe, check), so the replacement is never the original motif by chance."""
MOTIF_COLOUR_QUANTILE = 0.9
"""The motif colour is the median of the region's pixels farther from the ground colour than
this quantile of the distances."""
MOTIF_MIN_CONTRAST_LAB = 10.0
"""Below this CIELAB distance from the ground the region has no motif colour of its own (plain
cloth), and the replacement motifs are drawn ``MOTIF_PLAIN_GAIN`` darker or lighter."""
MOTIF_PLAIN_GAIN = 0.35
REGION_SHIFT_PX = 16.0
"""Displacement of the shifted region at severity 1 (output px, rounded to whole pixels so
the move does not also blur the cloth)."""
REGION_SHIFT_MIN_SHARE = 0.25
"""``region_shifted`` moves one of the border and pallu regions owning at least a quarter as
many pixels as the largest of them: moving a sliver that peeks out from behind a fold would
show little."""
PATTERN_BLUR_SIGMA_PX = 8.0
"""Smallest Gaussian sigma of the pattern-loss smear at severity 1 (output px)..."""
PATTERN_BLUR_SIGMA_FLAT_PX = 12.0
"""...which is otherwise this many S_flat px (a fifth to a tenth of a typical motif spacing)."""
LONG_BORDER_FRACTION = 0.5
"""Bends and gaps go into borders at least half as long as the pose's longest border."""
BORDER_GAP_FRACTION = 0.2
"""Fraction of a border's length removed by ``border_gap`` at severity 1."""
MIN_REGION_PIXELS = 64
"""Regions with fewer owned pixels are left alone (hidden regions)."""
SHADING_FLOOR = 0.05
"""Shading factors are clamped to at least this before dividing."""


# ------------------------------------------------------------------------------ public
def apply_defect(
    name: str,
    image: np.ndarray,
    placement: PlacementMap,
    *,
    seed: int,
    severity: float = 1.0,
) -> np.ndarray:
    """Return a damaged copy of ``image`` (RGB uint8 of ``placement.canvas_size``).

    Raises :class:`InvalidInput` for an unknown defect name (listing the known ones), a wrong
    image shape, a non-positive severity, or a pose that lacks what the defect damages (e.g.
    ``border_distortion`` on a pose without a border region).
    """
    if name not in DEFECTS:
        raise InvalidInput(f"Unknown defect {name!r}; known defects: {', '.join(sorted(DEFECTS))}.")
    cw, ch = placement.canvas_size
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != (ch, cw, 3):
        raise InvalidInput(
            f"Defect {name!r} needs an RGB uint8 image of {cw}x{ch} (w x h) for pose "
            f"'{placement.pose}'."
        )
    if not severity > 0:
        raise InvalidInput(f"Defect severity must be positive, got {severity}.")
    rng = np.random.default_rng(seed)
    return DEFECTS[name](image.copy(), placement, rng, float(severity))


# ------------------------------------------------------------------------------ defects
def border_distortion(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Bend one border sideways over part of its length, dragging the cloth beside it along."""
    region = _pick(_long_borders(placement), rng, "border_distortion", placement)
    pts, arc, normals = _resample_path(region.border_path or [])
    length = float(arc[-1])
    amplitude = float(rng.uniform(*BEND_AMPLITUDE_PX)) * severity * float(rng.choice([-1.0, 1.0]))
    centre = float(rng.uniform(*BEND_CENTRE_RANGE)) * length
    half = max(BEND_STRETCH_FRACTION * length / 2.0, 1.0)
    width = float(region.border_width_px or 0.0) or _mask_width(placement, region)
    hold = width / 2.0 + abs(amplitude) + 2.0
    fade = BEND_FALLOFF_PER_PX * abs(amplitude)

    ch, cw = image.shape[:2]
    x0, y0, x1, y1 = _path_box(pts, hold + fade, (cw, ch))
    if x1 <= x0 or y1 <= y0:
        return image
    idx, dist = _nearest_sample(pts, (x0, y0, x1 - x0, y1 - y0))
    t = arc[idx]
    along = np.where(np.abs(t - centre) < half, 0.5 * (1 + np.cos(np.pi * (t - centre) / half)), 0)
    across = np.clip((hold + fade - dist) / fade, 0.0, 1.0)
    disp = (amplitude * along * across).astype(np.float32)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    map_x = xx - disp * normals[idx, 0].astype(np.float32)
    map_y = yy - disp * normals[idx, 1].astype(np.float32)
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved = disp != 0
    image[y0:y1, x0:x1][moved] = warped[moved]
    return image


def color_shift(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """A colour cast over all cloth: one Lab vector, scaled so the mean ΔE2000 is ≈ 8 × severity.

    ΔE2000 weighs a Lab step very differently by direction and colour (a chroma step on
    saturated cloth counts a third of a lightness step), so the step is calibrated on the
    cloth's own pixels by bisection instead of being a fixed Lab length.
    """
    coords = _cloth_coords(placement, ("body", "border", "pallu"))
    if coords[0].size == 0:
        raise InvalidInput(f"Pose '{placement.pose}' has no cloth to recolour.")
    theta = float(rng.uniform(0.0, 2.0 * np.pi))
    direction = np.array([0.6 * float(rng.choice([-1.0, 1.0])), np.cos(theta), np.sin(theta)])
    direction = (direction / np.linalg.norm(direction)).astype(np.float32)

    def cast(lab: np.ndarray, step: float) -> np.ndarray:
        return lab + np.float32(step) * direction

    target = COLOR_SHIFT_DELTA_E * severity
    _recolour_to_delta_e(image, coords, cast, target, COLOR_SHIFT_MAX_LAB, rng)
    return image


def hue_rotation(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Rotate the hue of all cloth (a*b* plane) until the mean ΔE2000 is ≈ 8 × severity.

    Every colour turns by the same angle (sign from the seed), as when a generator mistakes
    red for orange; the angle is calibrated on the cloth's pixels, at most
    ``HUE_ROTATION_MAX_DEG`` (near-grey cloth has little hue to turn).
    """
    coords = _cloth_coords(placement, ("body", "border", "pallu"))
    if coords[0].size == 0:
        raise InvalidInput(f"Pose '{placement.pose}' has no cloth to recolour.")
    sign = float(rng.choice([-1.0, 1.0]))

    def rotate(lab: np.ndarray, degrees: float) -> np.ndarray:
        angle = np.deg2rad(degrees) * sign
        cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
        out = lab.copy()
        out[:, 1] = cos * lab[:, 1] - sin * lab[:, 2]
        out[:, 2] = sin * lab[:, 1] + cos * lab[:, 2]
        return out

    target = HUE_ROTATION_DELTA_E * severity
    _recolour_to_delta_e(image, coords, rotate, target, HUE_ROTATION_MAX_DEG, rng)
    return image


def saturation_loss(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Wash out all cloth: chroma (a*, b*) scaled down until the mean ΔE2000 is ≈ 8 × severity.

    Lightness and hue stay; the share of chroma taken away is calibrated on the cloth's pixels
    (at most all of it, which near-grey cloth may need and still not reach).
    """
    coords = _cloth_coords(placement, ("body", "border", "pallu"))
    if coords[0].size == 0:
        raise InvalidInput(f"Pose '{placement.pose}' has no cloth to recolour.")

    def wash_out(lab: np.ndarray, loss: float) -> np.ndarray:
        out = lab.copy()
        out[:, 1:] *= np.float32(1.0 - loss)
        return out

    target = SATURATION_LOSS_DELTA_E * severity
    _recolour_to_delta_e(image, coords, wash_out, target, 1.0, rng)
    return image


def border_recoloured(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """A colour cast over the border regions only (mean ΔE2000 ≈ 8 × severity on the border).

    The body and pallu keep their colours, as when a generator repaints a zari border in
    another shade; a cast over all cloth is :func:`color_shift`.
    """
    coords = _cloth_coords(placement, ("border",))
    if coords[0].size == 0:
        raise InvalidInput(
            f"Defect 'border_recoloured' needs a border region; pose '{placement.pose}' has none."
        )
    theta = float(rng.uniform(0.0, 2.0 * np.pi))
    direction = np.array([0.6 * float(rng.choice([-1.0, 1.0])), np.cos(theta), np.sin(theta)])
    direction = (direction / np.linalg.norm(direction)).astype(np.float32)

    def cast(lab: np.ndarray, step: float) -> np.ndarray:
        return lab + np.float32(step) * direction

    target = BORDER_RECOLOUR_DELTA_E * severity
    _recolour_to_delta_e(image, coords, cast, target, COLOR_SHIFT_MAX_LAB, rng)
    return image


def pattern_loss(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Smear the body regions' pattern: a Gaussian blur of the cloth kept inside each region.

    The cloth is blurred under its fold shading (divided out first, put back after), as a
    generator that loses the weave still draws the drape's light.

    The blur is ``PATTERN_BLUR_SIGMA_FLAT_PX`` S_flat pixels wide (times severity), converted to
    output pixels with the region's cloth scale, and never below ``PATTERN_BLUR_SIGMA_PX``: a
    close-up magnifies the motifs, and a fixed blur in output pixels would leave them intact.
    """
    regions = _regions(placement, "body")
    if not regions:
        raise InvalidInput(
            f"Defect 'pattern_loss' needs a body region; pose '{placement.pose}' has none."
        )
    for region in regions:
        scale = _cloth_scale(placement, region)
        sigma = max(PATTERN_BLUR_SIGMA_PX, PATTERN_BLUR_SIGMA_FLAT_PX * scale) * severity
        view, mask, shading = _view(image, placement, region)
        shade = np.maximum(shading, SHADING_FLOOR)[..., None]
        cloth = view.astype(np.float32) / shade * mask[..., None]
        weight = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
        blurred = cv2.GaussianBlur(cloth, (0, 0), sigma) / np.maximum(weight, 1e-6)[..., None]
        view[mask] = np.clip(np.rint((blurred * shade)[mask]), 0, 255).astype(np.uint8)
    return image


def pallu_swap(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Fill the pallu regions with body cloth (the adapter forgot which end is the pallu).

    ``severity`` below 1 blends the body cloth over the pallu (1 = fully replaced).
    """
    targets = _regions(placement, "pallu")
    if not targets:
        raise InvalidInput(
            f"Defect 'pallu_swap' needs a pallu region; pose '{placement.pose}' has none."
        )
    donors = _donors(placement, "pallu_swap")
    for region in targets:
        _fill_with_cloth(image, placement, region, donors, rng, min(severity, 1.0))
    return image


def border_missing(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Replace every border region with body cloth, as if the border were never woven."""
    targets = _regions(placement, "border")
    if not targets:
        raise InvalidInput(
            f"Defect 'border_missing' needs a border region; pose '{placement.pose}' has none."
        )
    donors = _donors(placement, "border_missing")
    for region in targets:
        _fill_with_cloth(image, placement, region, donors, rng, min(severity, 1.0))
    return image


def border_gap(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Cut a gap (``BORDER_GAP_FRACTION`` × severity of its length) out of one border."""
    region = _pick(_long_borders(placement), rng, "border_gap", placement)
    donors = _donors(placement, "border_gap")
    pts, arc, _ = _resample_path(region.border_path or [])
    length = float(arc[-1])
    gap = min(BORDER_GAP_FRACTION * severity, 0.9) * length
    start = float(rng.uniform(0.1 * length, max(0.1 * length, 0.9 * length - gap)))
    x, y, w, h = region.bbox
    idx, _ = _nearest_sample(pts, (x, y, w, h))
    t = arc[idx]
    cut = (t >= start) & (t <= start + gap)
    _fill_with_cloth(image, placement, region, donors, rng, 1.0, only=cut)
    return image


def mirror_pattern(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Mirror the cloth of the body and pallu regions left-right (fold shading kept in place).

    Where the mirrored source would fall outside the region, the original pixel stays.
    """
    regions = _regions(placement, "body") + _regions(placement, "pallu")
    if not regions:
        raise InvalidInput(
            f"Defect 'mirror_pattern' needs a body or pallu region; "
            f"pose '{placement.pose}' has none."
        )
    for region in regions:
        view, mask, shading = _view(image, placement, region)
        flat = view.astype(np.float32) / np.maximum(shading, SHADING_FLOOR)[..., None]
        mirrored = flat[:, ::-1]
        usable = mask & mask[:, ::-1]
        out = np.clip(np.rint(mirrored * shading[..., None]), 0, 255).astype(np.uint8)
        view[usable] = out[usable]
    return image


def pattern_rescaled(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Draw the body regions' pattern ``1 + PATTERN_ZOOM_PER_SEVERITY × severity`` times larger.

    The de-shaded cloth of each region is magnified about the centre of its largest inner
    rectangle and shaded again with the region's own folds, as a generator that got the motif
    size wrong still drapes the cloth. Only a magnification is possible (a smaller pattern
    would need cloth from outside the region); where the magnified source would fall outside
    the region, the original pixel stays.
    """
    regions = _regions(placement, "body")
    if not regions:
        raise InvalidInput(
            f"Defect 'pattern_rescaled' needs a body region; pose '{placement.pose}' has none."
        )
    zoom = 1.0 + PATTERN_ZOOM_PER_SEVERITY * severity
    for region in regions:
        view, mask, shading = _view(image, placement, region)
        h, w = mask.shape
        shade = np.maximum(shading, SHADING_FLOOR)[..., None]
        flat = view.astype(np.float32) / shade
        rx, ry, rw, rh = _inner_rect(mask)
        cx, cy = rx + rw / 2.0, ry + rh / 2.0
        # Output pixel p shows the cloth at c + (p - c) / zoom.
        inverse = np.float32([[1 / zoom, 0, cx - cx / zoom], [0, 1 / zoom, cy - cy / zoom]])
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        zoomed = cv2.warpAffine(flat, inverse, (w, h), flags=flags, borderMode=cv2.BORDER_REFLECT)
        # Bilinear sampling reaches one pixel: the source must lie inside the eroded mask.
        inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
        nearest = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
        inside = cv2.warpAffine(inner, inverse, (w, h), flags=nearest) > 0
        usable = mask & inside
        out = np.clip(np.rint(zoomed * shade), 0, 255).astype(np.uint8)
        view[usable] = out[usable]
    return image


def motif_replaced(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Redraw the body regions with another motif, in the cloth's own ground and motif colours.

    Over ``min(severity, 1)`` of each region's length (a band across its longer side, placed
    by the seed), the cloth becomes the ground colour with weave noise of the cloth's own
    strength and a staggered grid of one of ``MOTIF_SHAPES``, at a spacing drawn from the
    range of real body motifs (``MOTIF_SPACING_FRACTION`` of S_flat's height, in output
    pixels through the region's cloth scale). Colours and shading stay, so only the pattern
    measures can tell.
    """
    regions = _regions(placement, "body")
    if not regions:
        raise InvalidInput(
            f"Defect 'motif_replaced' needs a body region; pose '{placement.pose}' has none."
        )
    shape = MOTIF_SHAPES[int(rng.integers(len(MOTIF_SHAPES)))]
    spacing_flat = float(rng.uniform(*MOTIF_SPACING_FRACTION)) * placement.flat_size[1]
    share = min(severity, 1.0)
    for region in regions:
        view, mask, shading = _view(image, placement, region)
        shade = np.maximum(shading, SHADING_FLOOR)[..., None]
        flat = view.astype(np.float32) / shade
        spacing = max(6.0, spacing_flat * _cloth_scale(placement, region))
        cloth = _motif_cloth(flat[mask], mask.shape, shape, spacing, rng)
        band = _band_along_longer_side(mask, share, rng)
        target = mask & band
        out = np.clip(np.rint(cloth * shade), 0, 255).astype(np.uint8)
        view[target] = out[target]
    return image


def region_shifted(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Draw a border or the pallu ``REGION_SHIFT_PX × severity`` px off its place.

    One region is drawn among the border and pallu regions (those owning at least
    ``REGION_SHIFT_MIN_SHARE`` as many pixels as the largest of them): a border moves across
    its path (to either side, seeded), off the line it should follow; a pallu in a seeded
    direction. Inside the region's mask the canvas then shows what lies that far the other
    way: the region's own cloth and folds, displaced, and at its trailing edge whatever was
    drawn beside it (background or the neighbouring cloth). Nothing outside the region
    changes. Body regions are not moved: their cloth continues beyond them, and a repeating
    pattern drawn at another phase is the same cloth to anyone looking.
    """
    regions = _regions(placement, "border", need_path=True) + _regions(placement, "pallu")
    if not regions:
        raise InvalidInput(
            f"Defect 'region_shifted' needs a border or pallu region; "
            f"pose '{placement.pose}' has none."
        )
    owned = [int(placement.mask(r.name).sum()) for r in regions]
    biggest = max(owned)
    movable = [
        r for r, n in zip(regions, owned, strict=True) if n >= REGION_SHIFT_MIN_SHARE * biggest
    ]
    region = movable[int(rng.integers(len(movable)))]
    distance = REGION_SHIFT_PX * severity
    if region.kind == "border":
        _, arc, normals = _resample_path(region.border_path or [])
        middle = int(np.searchsorted(arc, arc[-1] / 2.0))
        direction = normals[middle] * float(rng.choice([-1.0, 1.0]))
    else:
        angle = float(rng.uniform(0.0, 2.0 * np.pi))
        direction = np.array([np.cos(angle), np.sin(angle)])
    dx, dy = (int(v) for v in np.rint(distance * direction))
    if dx == 0 and dy == 0:
        dx = 1 if direction[0] >= 0 else -1
    x, y, w, h = region.bbox
    view, mask, _ = _view(image, placement, region)
    yy, xx = np.mgrid[y : y + h, x : x + w].astype(np.float32)
    moved = cv2.remap(image, xx - dx, yy - dy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    view[mask] = moved[mask]
    return image


DEFECTS: dict[str, DefectFn] = {
    "border_distortion": border_distortion,
    "color_shift": color_shift,
    "pattern_loss": pattern_loss,
    "pallu_swap": pallu_swap,
    "border_missing": border_missing,
    "border_gap": border_gap,
    "hue_rotation": hue_rotation,
    "mirror_pattern": mirror_pattern,
    "saturation_loss": saturation_loss,
    "pattern_rescaled": pattern_rescaled,
    "motif_replaced": motif_replaced,
    "border_recoloured": border_recoloured,
    "region_shifted": region_shifted,
}
"""Every named defect; the first four are the ones DESIGN §9 requires."""

NEEDS: dict[str, tuple[frozenset[RegionKind], ...]] = {
    "border_distortion": (frozenset({"border"}),),
    "color_shift": (frozenset(),),
    "pattern_loss": (frozenset({"body"}),),
    "pallu_swap": (frozenset({"pallu", "body"}),),
    "border_missing": (frozenset({"border", "body"}),),
    "border_gap": (frozenset({"border", "body"}),),
    "hue_rotation": (frozenset(),),
    "mirror_pattern": (frozenset({"body"}), frozenset({"pallu"})),
    "saturation_loss": (frozenset(),),
    "pattern_rescaled": (frozenset({"body"}),),
    "motif_replaced": (frozenset({"body"}),),
    "border_recoloured": (frozenset({"border"}),),
    "region_shifted": (frozenset({"border"}), frozenset({"pallu"})),
}
"""Region kinds a pose must show for each defect (any one of the alternatives): a pose without
a pallu region cannot have its pallu swapped. Lets callers check an injection rule against
the pose catalogue before a job runs (see :func:`applies_to`)."""


def applies_to(name: str, kinds: set[str] | frozenset[str]) -> bool:
    """Whether defect ``name`` can damage a pose whose regions have these kinds.

    ``apply_defect`` raises :class:`InvalidInput` on such a pose; this answers beforehand, from
    the kinds of the pose's regions (e.g. read from the catalogue).
    """
    if name not in NEEDS:
        raise InvalidInput(f"Unknown defect {name!r}; known defects: {', '.join(sorted(DEFECTS))}.")
    return any(need <= set(kinds) for need in NEEDS[name])


LevelName = Literal["mild", "clear", "strong"]
CLEAR: LevelName = "clear"
"""The clearly visible level: the size at which validation must catch a defect."""


@dataclass(frozen=True)
class SeverityLevel:
    """A named severity of a defect: the ``severity`` passed to it and its size in words."""

    name: LevelName
    severity: float
    size: str


def _levels(unit: Callable[[float], str], *steps: tuple[LevelName, float]) -> tuple:
    return tuple(SeverityLevel(name, severity, unit(severity)) for name, severity in steps)


def _de(scale: float) -> Callable[[float], str]:
    return lambda severity: f"ΔE2000 {scale * severity:g}"


_GRADED = (("mild", 0.25), ("clear", 0.5), ("strong", 1.0))
LEVELS: dict[str, tuple[SeverityLevel, ...]] = {
    "color_shift": _levels(_de(COLOR_SHIFT_DELTA_E), *_GRADED),
    "hue_rotation": _levels(_de(HUE_ROTATION_DELTA_E), *_GRADED),
    "saturation_loss": _levels(_de(SATURATION_LOSS_DELTA_E), *_GRADED),
    "border_recoloured": _levels(_de(BORDER_RECOLOUR_DELTA_E), *_GRADED),
    "pattern_loss": _levels(
        lambda s: f"blur σ ≥ {PATTERN_BLUR_SIGMA_PX * s:g} px",
        ("mild", 0.25),
        ("clear", 0.5),
        ("strong", 1.0),
    ),
    "pattern_rescaled": _levels(
        lambda s: f"{1 + PATTERN_ZOOM_PER_SEVERITY * s:g}x larger",
        ("mild", 0.2),
        ("clear", 0.5),
        ("strong", 1.0),
    ),
    "motif_replaced": _levels(lambda s: f"{min(s, 1):.0%} of the body", *_GRADED),
    "mirror_pattern": _levels(lambda s: "mirrored", ("clear", 1.0)),
    "border_distortion": _levels(
        lambda s: f"bend {BEND_AMPLITUDE_PX[0] * s:g}-{BEND_AMPLITUDE_PX[1] * s:g} px",
        ("mild", 0.5),
        ("clear", 1.0),
        ("strong", 2.0),
    ),
    "border_gap": _levels(lambda s: f"gap {BORDER_GAP_FRACTION * s:.0%} of length", *_GRADED),
    "border_missing": _levels(lambda s: "replaced by body", ("clear", 1.0)),
    "pallu_swap": _levels(lambda s: "replaced by body", ("clear", 1.0)),
    "region_shifted": _levels(lambda s: f"{REGION_SHIFT_PX * s:g} px off", *_GRADED),
}
"""Graded severities of every defect, mildest first; each has a ``clear`` level. Colour
defects are sized by the mean ΔE2000 they make (2, 4, 8: about one, two and four
just-noticeable differences); a bend by its amplitude, a gap by its share of the border, a
shift in output pixels (canvases are 1536 px high). A defect with one level is all or nothing
(a border is missing or not)."""


# ------------------------------------------------------------------------------ colour
_LINEAR_LEVELS = 1 << 16
"""Linear light is encoded to sRGB through a table of 65536 levels: the steepest step (12.92
per unit near black) stays a twentieth of an 8-bit level, and a table look-up is ~10x faster
than ``np.power`` on the millions of values a colour defect rewrites."""


def _srgb_encode_table() -> np.ndarray:
    linear = np.arange(_LINEAR_LEVELS, dtype=np.float64) / (_LINEAR_LEVELS - 1)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


_SRGB_ENCODE = _srgb_encode_table()


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) to sRGB uint8, the inverse of :func:`metrics.rgb_to_lab` (clipped to gamut)."""
    lab = np.ascontiguousarray(lab, dtype=np.float32)
    linear = cv2.cvtColor(lab.reshape(-1, 1, 3), cv2.COLOR_Lab2LRGB).reshape(lab.shape)
    levels = np.clip(linear, 0.0, 1.0) * np.float32(_LINEAR_LEVELS - 1)
    return _SRGB_ENCODE[np.rint(levels).astype(np.intp)]


def _bisect_increasing(
    fn: Callable[[float], float], target: float, lo: float, hi: float, steps: int = 24
) -> float:
    """Smallest x in [lo, hi] with fn(x) ≈ target, for fn increasing; hi if never reached."""
    if fn(hi) <= target:
        return hi
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if fn(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _recolour_to_delta_e(
    image: np.ndarray,
    coords: tuple[np.ndarray, np.ndarray],
    change: Callable[[np.ndarray, float], np.ndarray],
    target: float,
    most: float,
    rng: np.random.Generator,
) -> None:
    """Apply ``change(lab, amount)`` to the pixels at ``coords``, with the smallest amount in
    ``[0, most]`` whose mean ΔE2000 reaches ``target`` (``most`` if none does).

    Calibrated by bisection on ``COLOR_SHIFT_SAMPLE`` pixels drawn from ``rng``; the amount
    must make the mean ΔE2000 grow (a longer cast, a wider rotation, more chroma lost).
    """
    lab = rgb_to_lab(image[coords])
    sample = rng.choice(len(lab), size=min(COLOR_SHIFT_SAMPLE, len(lab)), replace=False)
    sample.sort()
    probe = lab[sample]

    def mean_de(amount: float) -> float:
        changed = lab_to_rgb(change(probe, amount))
        return float(delta_e_ciede2000(probe, rgb_to_lab(changed)).mean())

    amount = _bisect_increasing(mean_de, target, 0.0, most)
    image[coords] = lab_to_rgb(change(lab, amount))


# ------------------------------------------------------------------------------ regions
def _regions(
    placement: PlacementMap, kind: RegionKind, *, need_path: bool = False
) -> list[PlacementRegion]:
    """Regions of ``kind`` that own enough pixels (and a border path, if asked)."""
    found = []
    for region in placement.regions:
        if region.kind != kind or region.name not in placement.arrays:
            continue
        if int(placement.mask(region.name).sum()) < MIN_REGION_PIXELS:
            continue
        if need_path and not (region.border_path and len(region.border_path) >= 2):
            continue
        found.append(region)
    return found


def _long_borders(placement: PlacementMap) -> list[PlacementRegion]:
    """Border regions with a path at least ``LONG_BORDER_FRACTION`` as long as the longest:
    a bend or gap in a short stub of border (a corner peeking out) would show little."""
    borders = _regions(placement, "border", need_path=True)
    if not borders:
        return []
    lengths = [_path_length(region.border_path or []) for region in borders]
    longest = max(lengths)
    return [r for r, n in zip(borders, lengths, strict=True) if n >= LONG_BORDER_FRACTION * longest]


def _path_length(path: list[tuple[float, float]]) -> float:
    poly = np.asarray(path, dtype=np.float64)
    return float(np.hypot(*np.diff(poly, axis=0).T).sum()) if len(poly) >= 2 else 0.0


def _pick(
    regions: list[PlacementRegion], rng: np.random.Generator, defect: str, placement: PlacementMap
) -> PlacementRegion:
    if not regions:
        raise InvalidInput(
            f"Defect {defect!r} needs a border region with a path; "
            f"pose '{placement.pose}' has none."
        )
    return regions[int(rng.integers(len(regions)))]


def _donors(placement: PlacementMap, defect: str) -> list[PlacementRegion]:
    donors = _regions(placement, "body")
    if not donors:
        raise InvalidInput(
            f"Defect {defect!r} fills with body cloth; "
            f"pose '{placement.pose}' shows no body region."
        )
    return donors


def _view(
    image: np.ndarray, placement: PlacementMap, region: PlacementRegion
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(writable bbox view of ``image``, region mask, shading) of one region."""
    x, y, w, h = region.bbox
    arrays = placement.arrays[region.name]
    mask = arrays["map_x"] >= 0
    shading = arrays.get("shading")
    shading = np.ones((h, w), np.float32) if shading is None else shading.astype(np.float32)
    return image[y : y + h, x : x + w], mask, shading


def _cloth_coords(
    placement: PlacementMap, kinds: tuple[RegionKind, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Canvas (rows, cols) of every pixel owned by a region of the given kinds."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for kind in kinds:
        for region in _regions(placement, kind):
            x, y, _, _ = region.bbox
            r, c = np.nonzero(placement.mask(region.name))
            rows.append(r + y)
            cols.append(c + x)
    if not rows:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    return np.concatenate(rows), np.concatenate(cols)


def _cloth_scale(placement: PlacementMap, region: PlacementRegion) -> float:
    """Median output px per S_flat px of a region (1 / sqrt of the map's Jacobian determinant)."""
    arrays = placement.arrays[region.name]
    mask = arrays["map_x"] >= 0
    gy_x, gx_x = np.gradient(arrays["map_x"].astype(np.float64))
    gy_y, gx_y = np.gradient(arrays["map_y"].astype(np.float64))
    det = np.abs(gx_x * gy_y - gy_x * gx_y)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    values = det[inner & (det > 0)]
    if values.size == 0:
        return 1.0
    return float(1.0 / np.sqrt(np.median(values)))


def _mask_width(placement: PlacementMap, region: PlacementRegion) -> float:
    mask = placement.mask(region.name).astype(np.uint8)
    return float(2.0 * cv2.distanceTransform(mask, cv2.DIST_L2, 5).max())


# ------------------------------------------------------------------------------ cloth filling
def _fill_with_cloth(
    image: np.ndarray,
    placement: PlacementMap,
    region: PlacementRegion,
    donors: list[PlacementRegion],
    rng: np.random.Generator,
    weight: float,
    *,
    only: np.ndarray | None = None,
) -> None:
    """Paint donor cloth (de-shaded, tiled) into ``region`` under the region's own shading."""
    view, mask, shading = _view(image, placement, region)
    h, w = mask.shape
    texture = _tiled_texture(image, placement, donors, (h, w), rng)
    painted = texture * shading[..., None]
    if weight < 1.0:
        painted = weight * painted + (1.0 - weight) * view.astype(np.float32)
    target = mask if only is None else mask & only
    view[target] = np.clip(np.rint(painted[target]), 0, 255).astype(np.uint8)


def _tiled_texture(
    image: np.ndarray,
    placement: PlacementMap,
    donors: list[PlacementRegion],
    shape: tuple[int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """Unshaded float32 cloth of ``shape``, mirror-tiled from the largest donor rectangle."""
    best: tuple[int, np.ndarray] | None = None
    for donor in donors:
        view, mask, shading = _view(image, placement, donor)
        rx, ry, rw, rh = _inner_rect(mask)
        if best is None or rw * rh > best[0]:
            flat = view[ry : ry + rh, rx : rx + rw].astype(np.float32)
            flat /= np.maximum(shading[ry : ry + rh, rx : rx + rw], SHADING_FLOOR)[..., None]
            best = (rw * rh, flat)
    assert best is not None
    tile = best[1]
    h, w = shape
    th, tw = tile.shape[:2]
    oy, ox = int(rng.integers(th)), int(rng.integers(tw))
    big = np.pad(tile, ((0, h + th - 1), (0, w + tw - 1), (0, 0)), mode="symmetric")
    return big[oy : oy + h, ox : ox + w]


def _inner_rect(mask: np.ndarray) -> tuple[int, int, int, int]:
    """A large axis-aligned rectangle inside ``mask``, grown greedily from its deepest pixel."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)
    top, bottom, left, right = cy, cy + 1, cx, cx + 1
    h, w = mask.shape
    grown = True
    while grown:
        grown = False
        if top > 0 and mask[top - 1, left:right].all():
            top -= 1
            grown = True
        if bottom < h and mask[bottom, left:right].all():
            bottom += 1
            grown = True
        if left > 0 and mask[top:bottom, left - 1].all():
            left -= 1
            grown = True
        if right < w and mask[top:bottom, right].all():
            right += 1
            grown = True
    return int(left), int(top), int(right - left), int(bottom - top)


# ------------------------------------------------------------------------------ motifs
def _motif_cloth(
    pixels: np.ndarray,
    shape: tuple[int, int],
    motif: str,
    spacing: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Unshaded float32 cloth of ``shape``: the ground and motif colours of ``pixels`` (the
    region's de-shaded pixels, ``N x 3``), weave noise of their strength, ``motif`` shapes on a
    staggered grid of ``spacing`` px."""
    ground = np.median(pixels, axis=0)
    lab = rgb_to_lab(np.clip(pixels / 255.0, 0.0, 1.0))
    ground_lab = rgb_to_lab(np.clip(ground / 255.0, 0.0, 1.0)[None])[0]
    distance = np.linalg.norm(lab - ground_lab, axis=1)
    far = distance >= np.quantile(distance, MOTIF_COLOUR_QUANTILE)
    if float(np.median(distance[far])) >= MOTIF_MIN_CONTRAST_LAB:
        colour = np.median(pixels[far], axis=0)
    else:  # plain cloth: a darker motif on light ground, a lighter one on dark ground
        lighter = ground + MOTIF_PLAIN_GAIN * (255.0 - ground)
        colour = ground * (1.0 - MOTIF_PLAIN_GAIN) if ground.mean() > 128 else lighter
    near = distance <= np.median(distance)
    weave = float(np.std(pixels[near] - ground, axis=0).mean())
    h, w = shape
    cloth = np.empty((h, w, 3), np.float32)
    cloth[:] = ground.astype(np.float32)
    cloth += rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(weave)
    radius = MOTIF_RADIUS_FRACTION * spacing
    ox, oy = rng.uniform(0.0, spacing, size=2)
    paint = tuple(float(c) for c in colour)
    for row, cy in enumerate(np.arange(oy - spacing, h + spacing, spacing * 0.866)):
        shift = (row % 2) * spacing / 2.0
        for cx in np.arange(ox - spacing + shift, w + spacing, spacing):
            _draw_motif(cloth, motif, float(cx), float(cy), radius, paint)
    return cloth


def _draw_motif(
    canvas: np.ndarray, motif: str, cx: float, cy: float, r: float, colour: tuple
) -> None:
    """One anti-aliased motif of radius ``r`` centred on (cx, cy)."""
    centre = (round(cx), round(cy))
    stroke = max(1, round(r / 3.0))
    if motif == "ring":
        cv2.circle(canvas, centre, max(1, round(r)), colour, stroke, cv2.LINE_AA)
    elif motif == "cross":
        for ex, ey in ((r, 0.0), (0.0, r)):
            a = (round(cx - ex), round(cy - ey))
            b = (round(cx + ex), round(cy + ey))
            cv2.line(canvas, a, b, colour, stroke, cv2.LINE_AA)
    else:
        points = 4 if motif == "diamond" else 10
        angles = np.arange(points) * (2.0 * np.pi / points) - np.pi / 2.0
        radii = np.full(points, r) if motif == "diamond" else np.tile([r, 0.45 * r], points // 2)
        poly = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(poly).astype(np.int32)], colour, cv2.LINE_AA)


def _band_along_longer_side(mask: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Rows (or columns, whichever side is longer) covering ``share`` of the mask's extent,
    at a seeded position; all of it when ``share`` is 1."""
    h, w = mask.shape
    along_rows = h >= w
    owned = np.flatnonzero(mask.any(axis=1 if along_rows else 0))
    first, last = int(owned[0]), int(owned[-1]) + 1
    length = max(1, round(share * (last - first)))
    start = first + int(rng.integers(0, last - first - length + 1))
    band = np.zeros_like(mask)
    if along_rows:
        band[start : start + length] = True
    else:
        band[:, start : start + length] = True
    return band


# ------------------------------------------------------------------------------ border paths
def _resample_path(path: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points every ~1 px along a polyline, their arc length and unit normals (float64)."""
    poly = np.asarray(path, dtype=np.float64)
    seg = np.hypot(*np.diff(poly, axis=0).T)
    arc_knots = np.concatenate([[0.0], np.cumsum(seg)])
    total = float(arc_knots[-1])
    n = max(2, int(np.ceil(total)) + 1)
    arc = np.linspace(0.0, total, n)
    pts = np.stack(
        [np.interp(arc, arc_knots, poly[:, 0]), np.interp(arc, arc_knots, poly[:, 1])], 1
    )
    tangent = np.gradient(pts, axis=0)
    norm = np.linalg.norm(tangent, axis=1, keepdims=True)
    tangent = tangent / np.maximum(norm, 1e-9)
    normals = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    return pts, arc, normals


def _path_box(pts: np.ndarray, margin: float, canvas: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the path grown by ``margin``, clipped to the canvas."""
    cw, ch = canvas
    x0 = max(0, int(np.floor(pts[:, 0].min() - margin)))
    y0 = max(0, int(np.floor(pts[:, 1].min() - margin)))
    x1 = min(cw, int(np.ceil(pts[:, 0].max() + margin)) + 1)
    y1 = min(ch, int(np.ceil(pts[:, 1].max() + margin)) + 1)
    return x0, y0, x1, y1


def _nearest_sample(
    pts: np.ndarray, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel of ``box`` (x, y, w, h): index of the nearest path sample and its distance.

    One distance transform with labels over the box, the path rasterised as its zero pixels;
    samples outside the box are snapped to its edge so far pixels still find the right end.
    """
    x, y, w, h = box
    cols = np.clip(np.rint(pts[:, 0] - x).astype(np.intp), 0, w - 1)
    rows = np.clip(np.rint(pts[:, 1] - y).astype(np.intp), 0, h - 1)
    grid = np.full((h, w), 255, np.uint8)
    grid[rows, cols] = 0
    owner = np.zeros((h, w), np.intp)
    owner[rows, cols] = np.arange(len(pts))
    dist, labels = cv2.distanceTransformWithLabels(
        grid, cv2.DIST_L2, cv2.DIST_MASK_PRECISE, labelType=cv2.DIST_LABEL_PIXEL
    )
    zero_r, zero_c = np.nonzero(grid == 0)
    lut = np.zeros(int(labels.max()) + 1, np.intp)
    lut[labels[zero_r, zero_c]] = owner[zero_r, zero_c]
    return lut[labels], dist
