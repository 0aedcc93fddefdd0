"""The embedded flatten adapter: S_clean (RGBA cut-out) → S_flat (DESIGN §2).

A saree laid flat photographs as a quadrilateral: a rectangle seen in perspective. So:

1. **Quad fit.** The four-sided polygon enclosing the mask's convex hull with least added area
   (greedy edge removal); then each side is re-fitted as a robust line through the outline points
   along its middle 80 % and adjacent lines are intersected, which puts the corners where the
   straight edges meet even when the cloth's corners are rounded, folded or clipped.
2. **Homography** of that quad onto an axis-aligned rectangle whose sides are the mean lengths
   of the quad's opposite sides (long side ≤ ``settings.work_max_side_px``), long side
   horizontal. The corner order keeps the photo's handedness: the cloth is never mirrored.
3. **Even light that keeps true colour.** The design is a handful of colours; light is one
   smooth field over all of them. Pixels are grouped by light-invariant colour, mixed pixels at
   design edges dropped, and ``log(intensity) = albedo[group] + s(x, y)`` is solved by robust
   least squares with ``s`` a low-order polynomial. ``exp(s)`` is divided out of R, G and B
   alike (hue kept), normalised so that the cloth's median light keeps its colour (the absolute
   light level is not observable in a photo; a camera exposes for the subject's average).
4. **Canonical orientation.** The pallu is the end whose colour distribution differs most from
   the middle of the cloth (rows between the borders). If it is on the left, the image turns
   180° (a pure index flip, no resampling).

``FlattenInfo.corners`` are in S_clean pixels with the pixel-edge convention of
:mod:`sareeflow.synth.photo` (pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)``), ordered as the
canonical TL, TR, BR, BL. ``quad_fit_error`` is the mean distance of the mask's outline from the
fitted quad, as a fraction of the quad's diagonal. When the outline is far from a quad (a saree
worn by a person, heavily folded or draped) the notes say so: this adapter does its best, and a
remote flatten adapter is the path for such inputs.

Deterministic: no randomness is used (``seed`` is accepted for the contract).
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from sareeflow.errors import AdapterUnavailable, InvalidInput, SareeflowError
from sareeflow.models import AdapterResult, FlattenInfo, PlacementMap
from sareeflow.settings import Settings, get_settings

ALPHA_CUT_LEVEL = 128
"""Alpha (0-255) from which a pixel of S_clean is cloth."""

# ---------------------------------------------------------------- quad fit
MAX_OUTLINE_POINTS = 4000
"""Outline points kept for fitting (evenly strided): plenty for four lines."""
QUAD_REFINE_ITERATIONS = 3
SIDE_INNER_SPAN = (0.1, 0.9)
"""Part of each side (fractions of its length) whose outline points fit its line: the corner
regions, often rounded or folded, stay out."""
SIDE_SELECT_FRACTION = 0.04
"""Outline points farther than this fraction of the quad's short side from a side's line do not
belong to that side."""
MIN_SIDE_SELECT_PX = 3.0
QUAD_CANDIDATE_EDGES = 8
"""Hull edges kept as candidate quad sides (every choice of four is tried: 70 quads)."""
QUAD_ANGLE_WEIGHT = 4.0
"""Weight of the corners' mean cos² (0 for right angles) in the enclosing quad's cost."""
REFINE_MAX_SHIFT = 0.05
"""A line re-fit that moves a corner by more than this fraction of the quad's extent is
distrusted (too few outline points on that side) and the hull's quad is kept."""
POOR_FIT_ERROR = 0.01
"""``quad_fit_error`` above this (fraction of the diagonal) means the cloth does not look laid
flat: on generated flat photos it stays below about 0.002."""
POOR_FILL_RATIO = 0.93
"""Mask area / quad area below this also means the outline is far from a quad."""

# ---------------------------------------------------------------- illumination
ILLUM_ANALYSIS_SIDE_PX = 256
"""Long side (px) at which the light field is estimated."""
ILLUM_BLUR_SIGMA_PX = 1.0
ILLUM_CLIPPED_LEVEL = 250
"""8-bit level from which a channel counts as clipped (no light information left)."""
ILLUM_GROUPS = 10
"""Colour groups of the design (k-means); more than a saree has colours, so no two merge."""
ILLUM_CHROMA_UNIT = 0.02
"""Chromaticity difference (r or g of rgb/sum) worth one unit in the grouping."""
ILLUM_LOG_UNIT = 0.35
"""Log-intensity difference worth one unit in the grouping: light varying by ±20 % barely
splits a colour, a half-as-bright version of the same hue does."""
ILLUM_PURITY_FACTOR = 1.5
"""Pixels farther than this × their group's median distance from its centre are mixtures."""
ILLUM_MIN_GROUP_SHARE = 0.01
ILLUM_MAX_CLUSTER_SAMPLES = 8000
ILLUM_MAX_FIT_SAMPLES = 20000
"""Pixels (evenly strided) in the light regression: ample for a 15-term polynomial."""
ILLUM_DARK_LEVEL = 8
"""8-bit level below which a channel is too dark (log noise) to measure light."""
ILLUM_POLY_DEGREE = 4
ILLUM_HUBER_K = 1.345
"""Huber threshold in units of the residuals' robust standard deviation."""
ILLUM_COEF_PRIOR = 0.3
"""Prior standard deviation of each light-polynomial coefficient (log units): light across a
cloth varies by tens of percent, not by factors."""
ILLUM_IRLS_ITERATIONS = 4
ILLUM_BORDER_FRACTION = 0.02
"""Outermost fraction of S_flat left out of the light estimate (the warp blends the backdrop)."""
ILLUM_REFERENCE_PERCENTILE = 50.0
"""The light level that keeps its colour: the cloth's median light is taken as true (a camera
exposes for the subject's average; on generated photos the cloth's median light is 0.94-1.04)."""
ILLUM_MAX_GAIN = 2.0
"""The correction never brightens or darkens by more than this factor."""
MIN_ILLUM_SAMPLES = 200
LIGHT_NOTE_SPREAD = 1.15
"""A light field varying by at least this factor across the cloth is mentioned in the notes."""

# ---------------------------------------------------------------- orientation
ORIENT_ANALYSIS_SIDE_PX = 256
ORIENT_ROWS = (0.2, 0.8)
"""Rows (fractions of the height) compared: between the borders."""
ORIENT_END_SPAN = (0.01, 0.11)
"""Columns (fractions of the length, from each end) taken as that end: inside any pallu
(15-25 % of the length) and clear of the warp's outermost pixels."""
ORIENT_MIDDLE_SPAN = (0.35, 0.65)
"""Columns taken as the body, in the middle of the cloth."""
ORIENT_BINS = (6, 6, 6)
"""Lab histogram bins (L 0-100, a and b -80..80)."""
ORIENT_CLEAR_MARGIN = 0.25
"""Relative difference between the two ends' distances below which the pallu end is unclear."""

NOT_FLAT_NOTE = (
    "The cloth does not look laid flat (its outline is far from a four-sided shape, as for a "
    "saree that is worn, draped or heavily folded). The local flatten did its best; a remote "
    "flatten adapter is the path for such photos."
)
FULL_FRAME_NOTE = (
    "The cloth fills the whole photo, so its edges were not visible; the photo's frame was "
    "used as the cloth's outline."
)
UNCLEAR_PALLU_NOTE = (
    "The pallu end could not be told clearly from the other end; the cloth may be the wrong way "
    "round."
)


# ================================================================ quad fit
def _outline(mask: np.ndarray) -> np.ndarray:
    """Boundary pixel centres (pixel-edge coordinates, float64 N x 2) of the largest piece."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        raise InvalidInput("The cut-out is empty: no cloth to flatten.")
    pts = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64) + 0.5
    if len(pts) > MAX_OUTLINE_POINTS:
        pts = pts[(np.arange(MAX_OUTLINE_POINTS) * (len(pts) / MAX_OUTLINE_POINTS)).astype(int)]
    return pts


def _remove_cheapest_edge(pts: list[np.ndarray]) -> bool:
    """Remove the polygon edge whose neighbours, extended to meet, add the least area."""
    n = len(pts)
    best, best_cost, best_point = -1, np.inf, None
    for i in range(n):
        a, b, c, d = pts[i - 1], pts[i], pts[(i + 1) % n], pts[(i + 2) % n]
        x = _intersect(b, b - a, c, c - d)
        if x is None or (x - b) @ (b - a) < 0 or (x - c) @ (c - d) < 0:
            continue
        cost = 0.5 * abs((c[0] - b[0]) * (x[1] - b[1]) - (x[0] - b[0]) * (c[1] - b[1]))
        if cost < best_cost:
            best, best_cost, best_point = i, cost, x
    if best_point is None:
        return False
    pts[best] = best_point
    del pts[(best + 1) % n]
    return True


def _quad_cost(quad: np.ndarray) -> float:
    """Area, inflated for corners far from square: a cloth seen from above is a mild
    perspective view of a rectangle, so among enclosing quads the squarish one is preferred."""
    cos2 = []
    for i in range(4):
        a, b = quad[i - 1] - quad[i], quad[(i + 1) % 4] - quad[i]
        cos2.append((a @ b) ** 2 / max(float(a @ a) * float(b @ b), 1e-12))
    return _polygon_area(quad) * (1.0 + QUAD_ANGLE_WEIGHT * float(np.mean(cos2)))


def _enclosing_quad(hull: np.ndarray) -> np.ndarray | None:
    """Four-sided polygon around a convex hull (clockwise on screen), sides flush with hull
    edges.

    The hull is first reduced to ``QUAD_CANDIDATE_EDGES`` edges by greedily removing the edge
    that adds the least area (rounded or clipped corners go first); then every choice of four of
    those edges is closed into a quad and the one with the least squareness-weighted area that
    still encloses the hull wins. Enclosing rather than inscribed: a mask missing part of the
    cloth (a body the colour of the backdrop) still gets the corners where the cloth's remaining
    straight edges meet. ``None`` when no four edges close around the hull.
    """
    pts = [np.asarray(p, np.float64) for p in hull]
    while len(pts) > QUAD_CANDIDATE_EDGES:
        if not _remove_cheapest_edge(pts):
            return None
    poly = np.array(pts)
    n = len(poly)
    if n < 4:
        return None
    tolerance = 1e-6 * float(np.linalg.norm(np.ptp(poly, axis=0))) + 1e-6
    best, best_cost = None, np.inf
    for chosen in itertools.combinations(range(n), 4):
        lines = [(poly[i], poly[(i + 1) % n] - poly[i]) for i in chosen]
        corners = [_intersect(*lines[k - 1], *lines[k]) for k in range(4)]
        if any(c is None for c in corners):
            continue
        quad = np.array(corners)
        if not _is_convex(quad) or not _contains(quad, poly, tolerance):
            continue
        cost = _quad_cost(quad)
        if cost < best_cost:
            best, best_cost = quad, cost
    return best


def _contains(quad: np.ndarray, points: np.ndarray, tolerance: float) -> bool:
    """Whether every point lies inside the convex quad (or within ``tolerance`` of it)."""
    orient = np.sign(
        (quad[1, 0] - quad[0, 0]) * (quad[2, 1] - quad[1, 1])
        - (quad[1, 1] - quad[0, 1]) * (quad[2, 0] - quad[1, 0])
    )
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        edge = b - a
        cross = edge[0] * (points[:, 1] - a[1]) - edge[1] * (points[:, 0] - a[0])
        if np.any(orient * cross < -tolerance * np.linalg.norm(edge)):
            return False
    return True


def _clockwise(quad: np.ndarray) -> np.ndarray:
    """The quad's corners in clockwise order on screen (y down), starting at index 0's corner."""
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    order = np.argsort(angles, kind="stable")
    return quad[order]


def _fit_line(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust (Huber) line through points: (point on line, unit direction)."""
    vx, vy, x0, y0 = cv2.fitLine(points.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    return np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)


def _intersect(p1: np.ndarray, d1: np.ndarray, p2: np.ndarray, d2: np.ndarray) -> np.ndarray | None:
    denom = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(denom) < 1e-9:
        return None
    t = ((p2[0] - p1[0]) * d2[1] - (p2[1] - p1[1]) * d2[0]) / denom
    return p1 + t * d1


def _refine_quad(outline: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Re-fit each side as a line through its own outline points; corners = line crossings.

    Outline points are boundary pixel *centres*, half a pixel inside the cloth's edge: each line
    moves outwards by half a pixel before the crossings are taken.
    """
    for _ in range(QUAD_REFINE_ITERATIONS):
        sides = np.roll(quad, -1, axis=0) - quad
        lengths = np.linalg.norm(sides, axis=1)
        short = float(min(lengths.min(), 1e9))
        select = max(MIN_SIDE_SELECT_PX, SIDE_SELECT_FRACTION * short)
        centre = quad.mean(axis=0)
        lines = []
        for i in range(4):
            start, d, length = quad[i], sides[i] / max(lengths[i], 1e-9), lengths[i]
            rel = outline - start
            along = rel @ d / max(length, 1e-9)
            across = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0])
            near = (along > SIDE_INNER_SPAN[0]) & (along < SIDE_INNER_SPAN[1]) & (across < select)
            if np.count_nonzero(near) >= 2:
                p, direction = _fit_line(outline[near])
            else:
                p, direction = start, d
            normal = np.array([direction[1], -direction[0]])
            if normal @ (p - centre) < 0:
                normal = -normal
            lines.append((p + 0.5 * normal, direction))
        new = []
        for i in range(4):
            cross = _intersect(*lines[i - 1], *lines[i])
            new.append(quad[i] if cross is None else cross)
        quad = np.array(new)
    return quad


def _segment_distances(points: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Distance of each point to the quad's boundary (px)."""
    best = np.full(len(points), np.inf)
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        ab = b - a
        t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
        d = np.linalg.norm(points - (a + t[:, None] * ab), axis=1)
        np.minimum(best, d, out=best)
    return best


def _is_convex(quad: np.ndarray) -> bool:
    """True for a simple convex quadrilateral (all turns the same way)."""
    turns = []
    for i in range(4):
        a, b, c = quad[i - 1], quad[i], quad[(i + 1) % 4]
        turns.append((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]))
    return all(t > 0 for t in turns) or all(t < 0 for t in turns)


def _polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def fit_quad(mask: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Quadrilateral of a cloth mask (``uint8`` 0/255).

    Returns the corners (4 x 2, pixel-edge coordinates, clockwise on screen), the mean distance
    of the outline from the quad as a fraction of the quad's diagonal, and mask area / quad
    area.
    """
    outline = _outline(mask)
    hull = cv2.convexHull(outline.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(hull) < 4:
        raise InvalidInput("The cut-out is too small to flatten.")
    start = _enclosing_quad(hull)
    if start is None:
        start = cv2.boxPoints(cv2.minAreaRect(outline.astype(np.float32))).astype(np.float64)
    start = _clockwise(start)
    refined = _clockwise(_refine_quad(outline, start))
    shift = float(np.max(np.linalg.norm(refined - start, axis=1)))
    span = float(np.linalg.norm(np.ptp(start, axis=0)))
    sane = _is_convex(refined) and shift <= REFINE_MAX_SHIFT * span
    quad = refined if sane else start
    diagonal = max(
        float(np.linalg.norm(quad[2] - quad[0])), float(np.linalg.norm(quad[3] - quad[1])), 1.0
    )
    error = float(np.mean(_segment_distances(outline, quad))) / diagonal
    fill = float(np.count_nonzero(mask)) / max(_polygon_area(quad), 1.0)
    return quad, error, fill


def long_side_first(quad: np.ndarray) -> np.ndarray:
    """Clockwise corners relabelled TL, TR, BR, BL so that TL→TR is a long side.

    Of the two such labellings (180° apart) the one whose TL→TR points more to the right on
    screen (then more downwards) is returned; orientation decides later.
    """
    sides = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)
    start = 0 if sides[0] + sides[2] >= sides[1] + sides[3] else 1
    a = np.roll(quad, -start, axis=0)
    b = np.roll(quad, -(start + 2), axis=0)
    da, db = a[1] - a[0], b[1] - b[0]
    return a if (round(da[0], 6), round(da[1], 6)) >= (round(db[0], 6), round(db[1], 6)) else b


# ================================================================ rectification
def flat_size(corners: np.ndarray, max_side: int) -> tuple[int, int]:
    """(w, h) of S_flat: mean lengths of opposite sides, long side ≤ ``max_side``."""
    tl, tr, br, bl = corners
    w = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    h = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    scale = min(1.0, max_side / max(w, h, 1.0))
    return max(1, round(w * scale)), max(1, round(h * scale))


def rectify(rgb: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp the quad ``corners`` (TL, TR, BR, BL, pixel-edge coordinates) onto a ``size`` image."""
    w, h = size
    dst = np.array([(0, 0), (w, 0), (w, h), (0, h)], np.float64)
    # OpenCV works in pixel-centre coordinates: shift both sides by half a pixel
    matrix = cv2.getPerspectiveTransform(
        (corners - 0.5).astype(np.float32), (dst - 0.5).astype(np.float32)
    )
    return cv2.warpPerspective(
        rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


# ================================================================ illumination
def _poly_terms(degree: int) -> list[tuple[int, int]]:
    return [(i, j) for total in range(1, degree + 1) for i in range(total + 1) for j in [total - i]]


def _kmeans(samples: np.ndarray, k: int, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means (farthest-point start from the median sample): labels, centres."""
    first = int(np.argmin(np.linalg.norm(samples - np.median(samples, axis=0), axis=1)))
    centres = [samples[first]]
    nearest = np.linalg.norm(samples - centres[0], axis=1)
    for _ in range(1, k):
        centres.append(samples[int(np.argmax(nearest))])
        nearest = np.minimum(nearest, np.linalg.norm(samples - centres[-1], axis=1))
    c = np.array(centres, dtype=np.float64)
    labels = np.zeros(len(samples), dtype=np.int64)
    for _ in range(iterations):
        labels = np.argmin(((samples[:, None, :] - c[None]) ** 2).sum(axis=2), axis=1)
        for j in range(k):
            members = samples[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
    return labels, c


def estimate_light(rgb: np.ndarray) -> np.ndarray:
    """Smooth log light field of a flat cloth (float32, same height/width as ``rgb``), zero at
    the reference level ``ILLUM_REFERENCE_PERCENTILE``.

    The design is a handful of colours; light is one smooth field over all of them. Pixels are
    grouped by colour in a light-invariant way (chromaticity, plus a weak say of brightness so
    a dark and a light version of one hue stay apart), mixed pixels at design edges (far from
    their group's centre) are dropped, and ``log(intensity) = albedo[group] + s(u, v)`` is
    solved by least squares, ``s`` a polynomial of degree ``ILLUM_POLY_DEGREE`` in normalised
    coordinates. Huber re-weighting (scale from the residuals' MAD) and a ridge prior on the
    polynomial (``ILLUM_COEF_PRIOR``) keep stray pixels from inventing light.
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, ILLUM_ANALYSIS_SIDE_PX / max(h, w))
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), ILLUM_BLUR_SIGMA_PX)
    total = np.maximum(small.sum(axis=2), 3.0)
    log_i = np.log(total / 3.0)
    chroma = small[..., :2] / total[..., None]
    yy, xx = np.mgrid[0:sh, 0:sw]
    margin_x = max(1, round(ILLUM_BORDER_FRACTION * sw))
    margin_y = max(1, round(ILLUM_BORDER_FRACTION * sh))
    inside = (xx >= margin_x) & (xx < sw - margin_x) & (yy >= margin_y) & (yy < sh - margin_y)
    usable = (
        inside & (small.max(axis=2) < ILLUM_CLIPPED_LEVEL) & (small.min(axis=2) > ILLUM_DARK_LEVEL)
    )
    if np.count_nonzero(usable) < MIN_ILLUM_SAMPLES:
        return np.zeros((h, w), np.float32)
    feats = np.dstack([chroma / ILLUM_CHROMA_UNIT, log_i[..., None] / ILLUM_LOG_UNIT])[usable]
    step = max(1, len(feats) // ILLUM_MAX_CLUSTER_SAMPLES)
    labels_sub, centres = _kmeans(feats[::step].astype(np.float64), ILLUM_GROUPS, 8)
    labels = np.argmin(((feats[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    dist = np.sqrt(((feats - centres[labels]) ** 2).sum(axis=1))
    pure = np.zeros(len(feats), bool)
    for j in range(len(centres)):
        members = labels == j
        if np.count_nonzero(members) >= ILLUM_MIN_GROUP_SHARE * len(feats):
            pure |= members & (dist <= ILLUM_PURITY_FACTOR * np.median(dist[members]))
    if np.count_nonzero(pure) < MIN_ILLUM_SAMPLES:
        return np.zeros((h, w), np.float32)
    chosen = np.flatnonzero(pure)
    chosen = chosen[:: max(1, len(chosen) // ILLUM_MAX_FIT_SAMPLES)]
    u = (xx[usable][chosen] + 0.5) / sw - 0.5
    v = (yy[usable][chosen] + 0.5) / sh - 0.5
    groups = np.unique(labels[chosen], return_inverse=True)[1]
    terms = _poly_terms(ILLUM_POLY_DEGREE)
    poly = np.stack([u**i * v**j for i, j in terms], axis=1)
    onehot = np.zeros((len(u), int(groups.max()) + 1))
    onehot[np.arange(len(u)), groups] = 1.0
    design = np.hstack([poly, onehot])
    target = log_i[usable][chosen].astype(np.float64)
    prior = np.concatenate([np.full(len(terms), 1.0), np.zeros(onehot.shape[1])])
    gram = design.T @ design
    coef = np.linalg.solve(gram + 1e-9 * np.trace(gram) * np.eye(len(gram)), design.T @ target)
    for _ in range(ILLUM_IRLS_ITERATIONS):
        resid = design @ coef - target
        sigma = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1e-4)
        cut = ILLUM_HUBER_K * sigma
        weights = np.where(np.abs(resid) <= cut, 1.0, cut / np.maximum(np.abs(resid), 1e-12))
        ridge = (sigma / ILLUM_COEF_PRIOR) ** 2
        a = design * weights[:, None]
        coef = np.linalg.solve(design.T @ a + ridge * np.diag(prior), a.T @ target)
    gy_full, gx_full = np.mgrid[0:sh, 0:sw].astype(np.float64)
    uf, vf = (gx_full + 0.5) / sw - 0.5, (gy_full + 0.5) / sh - 0.5
    field = np.zeros((sh, sw))
    for c, (i, j) in zip(coef[: len(terms)], terms, strict=True):
        field += c * uf**i * vf**j
    field -= np.percentile(field, ILLUM_REFERENCE_PERCENTILE)
    field = np.clip(field, -np.log(ILLUM_MAX_GAIN), np.log(ILLUM_MAX_GAIN))
    return cv2.resize(field.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def even_light(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Divide the estimated light field out of R, G and B alike (hue kept).

    Returns the evened image and the light's range across the cloth (max/min ratio).
    """
    field = estimate_light(rgb)
    gain = np.exp(-field)[..., None]
    out = np.clip(np.rint(rgb.astype(np.float32) * gain), 0, 255).astype(np.uint8)
    spread = float(np.exp(field.max() - field.min()))
    return out, spread


# ================================================================ orientation
def _lab_histogram(lab: np.ndarray) -> np.ndarray:
    rng = ((0.0, 100.0), (-80.0, 80.0), (-80.0, 80.0))
    hist, _ = np.histogramdd(lab.reshape(-1, 3), bins=ORIENT_BINS, range=rng)
    total = hist.sum()
    return hist / total if total > 0 else hist


def _hellinger(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(p * q))))))


def pallu_end(rgb: np.ndarray) -> tuple[str, float]:
    """Which end ("left" or "right") of a horizontal S_flat is the pallu, and how clearly.

    The pallu is the end whose colour distribution (rows between the borders) differs most from
    the body in the middle of the cloth; the other end is more body. Clarity in [0, 1] is the
    relative gap between the two ends' distances.
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, ORIENT_ANALYSIS_SIDE_PX / max(h, w))
    small = cv2.resize(
        rgb, (max(8, round(w * scale)), max(4, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    sh, sw = lab.shape[:2]
    rows = slice(
        int(ORIENT_ROWS[0] * sh), max(int(ORIENT_ROWS[1] * sh), int(ORIENT_ROWS[0] * sh) + 1)
    )

    def cols(a: float, b: float) -> slice:
        return slice(int(a * sw), max(int(b * sw), int(a * sw) + 1))

    body = _lab_histogram(lab[rows, cols(*ORIENT_MIDDLE_SPAN)])
    left = _lab_histogram(lab[rows, cols(*ORIENT_END_SPAN)])
    right = _lab_histogram(lab[rows, cols(1 - ORIENT_END_SPAN[1], 1 - ORIENT_END_SPAN[0])])
    d_left, d_right = _hellinger(left, body), _hellinger(right, body)
    clarity = abs(d_right - d_left) / max(d_right, d_left, 1e-6)
    return ("right" if d_right >= d_left else "left"), float(clarity)


def rotation_degrees(corners: np.ndarray) -> int:
    """Clockwise turn (0/90/180/270) from the cloth as photographed to canonical S_flat."""
    tl, tr, br, bl = corners
    d = (tr + br) / 2 - (tl + bl) / 2
    theta = np.degrees(np.arctan2(d[1], d[0]))
    return int(round((-theta) % 360 / 90.0)) % 4 * 90


# ================================================================ the adapter
class LocalFlattenAdapter:
    """Embedded flatten: quad fit + homography + even light + pallu to the right."""

    name = "local_flatten"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def run(
        self,
        image: np.ndarray,
        placement_map: PlacementMap | None,
        seed: int,
        strict_instructions: list[str],
        forbidden_changes: list[str],
    ) -> AdapterResult:
        """S_clean (RGBA, alpha = mask; RGB is taken as all cloth) → S_flat (RGB ``uint8``)."""
        rgb, mask = _split(image)
        try:
            s_flat, info = flatten_cloth(rgb, mask, max_side=self.settings.work_max_side_px)
        except SareeflowError:
            raise
        except (cv2.error, ValueError, np.linalg.LinAlgError, MemoryError) as exc:
            raise AdapterUnavailable("The local flatten failed.", detail=repr(exc)) from exc
        return AdapterResult(image=s_flat, info=info.model_dump(mode="json"))

    def close(self) -> None:
        """Nothing to release."""


def _split(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        raise InvalidInput("The flatten adapter needs S_clean as an RGBA uint8 image.")
    if image.shape[2] == 4:
        mask = np.where(image[..., 3] >= ALPHA_CUT_LEVEL, 255, 0).astype(np.uint8)
        return np.ascontiguousarray(image[..., :3]), mask
    if image.shape[2] == 3:
        return image, np.full(image.shape[:2], 255, np.uint8)
    raise InvalidInput("The flatten adapter needs S_clean as an RGBA uint8 image.")


def flatten_cloth(
    rgb: np.ndarray, mask: np.ndarray, *, max_side: int
) -> tuple[np.ndarray, FlattenInfo]:
    """The whole local flatten on arrays: returns S_flat (RGB ``uint8``) and its FlattenInfo."""
    if not np.any(mask):
        raise InvalidInput("The cut-out is empty: no cloth to flatten.")
    quad, fit_error, fill = fit_quad(mask)
    corners = long_side_first(quad)
    size = flat_size(corners, max_side)
    flat, light_spread = even_light(rectify(rgb, corners, size))
    side, clarity = pallu_end(flat)
    if side == "left":
        flat = np.ascontiguousarray(flat[::-1, ::-1])
        corners = corners[[2, 3, 0, 1]]
    notes: list[str] = []
    full_frame = bool(np.all(mask))
    if full_frame:
        notes.append(FULL_FRAME_NOTE)
    looks_flat = fit_error <= POOR_FIT_ERROR and fill >= POOR_FILL_RATIO
    if not looks_flat:
        notes.append(NOT_FLAT_NOTE)
    if clarity < ORIENT_CLEAR_MARGIN:
        notes.append(UNCLEAR_PALLU_NOTE)
    if light_spread >= LIGHT_NOTE_SPREAD:
        notes.append(
            f"Uneven light was evened out: it varied by a factor of {light_spread:.2f} across "
            "the cloth."
        )
    fit_conf = float(np.clip(1.0 - fit_error / (2 * POOR_FIT_ERROR), 0.0, 1.0)) * min(fill, 1.0)
    confidence = fit_conf * (0.5 + 0.5 * min(1.0, clarity / ORIENT_CLEAR_MARGIN))
    if full_frame:
        confidence *= 0.5
    info = FlattenInfo(
        adapter=LocalFlattenAdapter.name,
        corners=[(round(float(x), 3), round(float(y), 3)) for x, y in corners],
        output_size=(int(flat.shape[1]), int(flat.shape[0])),
        rotated_degrees=rotation_degrees(corners),
        mirrored=False,
        quad_fit_error=round(fit_error, 6),
        confidence=round(float(np.clip(confidence, 0.0, 1.0)), 4),
        notes=notes,
    )
    return flat, info
