"""Named defects: deliberate damage to a rendered pose image, guided by its placement map.

They serve failure injection (``SAREEFLOW_FAILURE_INJECTION``, DESIGN §6/§9) and the validation
defect corpus (DESIGN §8). Each defect imitates a failure a generative adapter really makes —
a bent or dropped border, a colour cast, a smeared pattern, the wrong cloth in the pallu — and
changes only pixels; nothing marks the image as damaged, so validation has to find the damage
by measurement.

Every defect is deterministic in ``seed`` (``np.random.default_rng(seed)``; no global state)
and scales with ``severity`` (1 = the documented strength, which validation must catch with the
default thresholds).
"""

from __future__ import annotations

from collections.abc import Callable

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
COLOR_SHIFT_SAMPLE = 20_000
"""Pixels sampled to calibrate the cast's strength."""
HUE_ROTATION_DEG = 30.0
"""Hue rotation in the a*b* plane at severity 1 (degrees)."""
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
    pixels = image[coords]
    lab = rgb_to_lab(pixels)
    theta = float(rng.uniform(0.0, 2.0 * np.pi))
    direction = np.array([0.6 * float(rng.choice([-1.0, 1.0])), np.cos(theta), np.sin(theta)])
    direction = (direction / np.linalg.norm(direction)).astype(np.float32)
    sample = rng.choice(len(lab), size=min(COLOR_SHIFT_SAMPLE, len(lab)), replace=False)
    sample.sort()
    target = COLOR_SHIFT_DELTA_E * severity

    def mean_de(step: float, rows: np.ndarray) -> float:
        shifted = lab_to_rgb(lab[rows] + step * direction)
        return float(delta_e_ciede2000(lab[rows], rgb_to_lab(shifted)).mean())

    step = _bisect_increasing(lambda s: mean_de(s, sample), target, 0.0, COLOR_SHIFT_MAX_LAB)
    image[coords] = lab_to_rgb(lab + step * direction)
    return image


def hue_rotation(
    image: np.ndarray, placement: PlacementMap, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Rotate the hue of all cloth by ``HUE_ROTATION_DEG`` × severity (sign from the seed)."""
    coords = _cloth_coords(placement, ("body", "border", "pallu"))
    if coords[0].size == 0:
        raise InvalidInput(f"Pose '{placement.pose}' has no cloth to recolour.")
    lab = rgb_to_lab(image[coords])
    angle = np.deg2rad(HUE_ROTATION_DEG * severity) * float(rng.choice([-1.0, 1.0]))
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    a, b = lab[:, 1].copy(), lab[:, 2].copy()
    lab[:, 1] = cos * a - sin * b
    lab[:, 2] = sin * a + cos * b
    image[coords] = lab_to_rgb(lab)
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


DEFECTS: dict[str, DefectFn] = {
    "border_distortion": border_distortion,
    "color_shift": color_shift,
    "pattern_loss": pattern_loss,
    "pallu_swap": pallu_swap,
    "border_missing": border_missing,
    "border_gap": border_gap,
    "hue_rotation": hue_rotation,
    "mirror_pattern": mirror_pattern,
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


# ------------------------------------------------------------------------------ colour
def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) to sRGB uint8, the inverse of :func:`metrics.rgb_to_lab` (clipped to gamut)."""
    lab = np.ascontiguousarray(lab, dtype=np.float32)
    linear = cv2.cvtColor(lab.reshape(-1, 1, 3), cv2.COLOR_Lab2LRGB).reshape(lab.shape)
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


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
