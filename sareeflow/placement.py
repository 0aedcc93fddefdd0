"""Pose + parts → :class:`~sareeflow.models.PlacementMap`: where every output pixel samples S_flat.

The backend, not the adapter, owns this geometry (docs/architecture.md, "Placement map"). Every
cloth region of a pose is built from *pieces*: a surface between two polylines ``a`` and ``b`` in
output pixels, cut into bilinear quads. Source x runs along the polylines, source y from ``a``
to ``b``. Inverting each quad's bilinear map per pixel (instead of warping per quad with a
homography) keeps the mapping continuous across quad seams, so borders and motifs run on
without steps. The catalogue's primitives become pieces like this:

- ``loft``: one piece between two curves (a skirt between waist and hem);
- ``ribbon``: one piece between the spine offset left and right by half the width (borders: the
  spine *is* the border path and the width is exact along it);
- ``strips``: ``count`` pieces side by side, each its own slice of the cloth (pleats);
- ``sheet``: the whole S_flat laid along a spine; each region shows its part where it lies.

A multi-rail ``loft`` (``via``) becomes a grid of quads; a ``gather``-ed window shows fewer
source rows where a drape narrows instead of squeezing the pattern.

Regions are painted in depth order (``z``, then list order) together with the mannequin's shapes
into an ownership buffer, so later layers occlude earlier ones and region masks never overlap.
A region hidden but for a sliver is dropped and the layers behind it show instead.

Anti-aliasing: the validator rebuilds expected pixels as ``cv2.remap(s_flat, map_x, map_y,
INTER_LINEAR) * shading`` (see :func:`expected_region`), so no pre-filter is possible; instead the
catalogue keeps cloth scales at or above about 0.5 output px per S_flat px, where bilinear
sampling does not alias visibly (``tests/test_placement.py`` checks it for every pose).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from sareeflow.errors import InternalError
from sareeflow.models import PartName, PartsInfo, PlacementMap, PlacementRegion, Rect
from sareeflow.poses import (
    BlobShape,
    CurveRef,
    CylinderShading,
    EllipseShape,
    FigureShape,
    FoldsShading,
    GradientShading,
    Length,
    LimbShape,
    LoftGeometry,
    PartLength,
    PleatShading,
    PoseSpec,
    RegionSpec,
    RibbonGeometry,
    Shading,
    SheetGeometry,
    SourceWindow,
    StripsGeometry,
    WaveShading,
)

SEGMENT_PX = 16.0
"""Target length (output px) of one quad along a curve: short enough that the chords of a curve
stay within ~0.05 px of it for the radii the catalogue uses."""
RAIL_ROW_FACTOR = 4
"""Rows of a multi-rail loft are this many segments long (the rails are gentle across)."""
CURVE_SAMPLES_PER_SPAN = 32
"""Catmull-Rom samples between two control points before arc-length resampling."""
BORDER_PATH_STEP_PX = 8.0
"""Spacing (output px) of the points of a border region's ``border_path``."""
MIN_WIDTH_PX = 2.0
"""Smallest ribbon width allowed after part-derived lengths (output px)."""
ABSENT_BORDER_FRACTION = 0.07
"""Height of an absent border, as a fraction of S_flat's height: how much of the body's edge
stands in for it (a typical woven border is 5–10 % of the cloth's width)."""
MAX_BORDER_FRACTION = 0.14
"""Part-derived lengths use a border's height up to this fraction of S_flat's height: an
unusually wide border is drawn narrower than its natural scale rather than crowding the drape
(the pattern across it is then squeezed, never cut)."""
ABSENT_PALLU_FRACTION = 0.2
"""Width of an absent pallu, as a fraction of S_flat's width (a pallu is ~1 m of ~5.5 m)."""
SHADING_RANGE = (0.4, 1.15)
"""Shading factors are clipped to this range: darker would hide the cloth from validation,
brighter would clip highlights of light cloth."""
MIN_CLOTH_SCALE = 0.5
"""Smallest cloth scale (output px per S_flat px) a source window may ask for: below it bilinear
sampling aliases, and no pre-filter can be expressed in the map. Windows asking for more cloth
are narrowed about their centre (the flat lay's ``sheet`` is exempt: it must show everything)."""
MIN_REGION_FRACTION = 1e-4
"""A region showing fewer pixels than this fraction of the canvas is left out (~160 px at
1024x1536): a sliver peeking from behind a drape cannot be validated meaningfully."""
MIN_BORDER_PATH_PX = 24.0
"""A border region needs a visible stretch of path at least this long (output px) to keep."""
SHAPE_OWNER = -2
NO_OWNER = -1


# ---------------------------------------------------------------- context
@dataclass(frozen=True)
class _Context:
    pose: PoseSpec
    parts: PartsInfo
    canvas_w: int
    canvas_h: int

    @property
    def flat_w(self) -> int:
        return self.parts.flat_size[0]

    @property
    def flat_h(self) -> int:
        return self.parts.flat_size[1]

    @property
    def cloth_scale(self) -> float:
        """Output px per S_flat px at the pose's natural cloth scale."""
        return self.pose.drop * self.canvas_h / self.flat_h

    def part_height_px(self, part: PartName) -> float:
        """A part's height in S_flat px, or a stand-in height when the part is absent."""
        rect = self.parts.rect(part)
        if part in ("border_top", "border_bottom"):
            if rect is None:
                return ABSENT_BORDER_FRACTION * self.flat_h
            return float(min(rect[3], MAX_BORDER_FRACTION * self.flat_h))
        return float(rect[3]) if rect is not None else float(self.flat_h)

    def length_px(self, length: Length) -> float:
        """A catalogue length in output px (see :mod:`sareeflow.poses` for the forms)."""
        if isinstance(length, list):
            return sum(self.length_px(term) for term in length)
        if isinstance(length, PartLength):
            return length.factor * self.part_height_px(length.part) * self.cloth_scale
        return float(length) * self.canvas_h


# ---------------------------------------------------------------- curves
def _catmull_rom(points: np.ndarray, samples: int) -> np.ndarray:
    """Uniform Catmull-Rom spline through ``points`` (ends extended by reflection), densely
    sampled."""
    padded = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    t = np.linspace(0.0, 1.0, samples, endpoint=False)[:, None]
    t2, t3 = t * t, t * t * t
    spans = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        spans.append(
            0.5
            * (
                2 * p1
                + (p2 - p0) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                + (3 * p1 - p0 - 3 * p2 + p3) * t3
            )
        )
    spans.append(points[-1][None, :])
    return np.vstack(spans)


def _dense(points: np.ndarray, smooth: bool) -> np.ndarray:
    """A polyline fine enough to offset and resample: spline through the points, or the straight
    segments subdivided."""
    if len(points) < 2:
        raise InternalError("A catalogue curve needs at least two points.")
    if smooth and len(points) >= 3:
        return _catmull_rom(points, CURVE_SAMPLES_PER_SPAN)
    pieces = []
    for p, q in zip(points[:-1], points[1:], strict=True):
        steps = max(1, int(math.ceil(np.hypot(*(q - p)) / 4.0)))
        pieces.append(p + (q - p) * np.linspace(0, 1, steps, endpoint=False)[:, None])
    pieces.append(points[-1][None, :])
    return np.vstack(pieces)


def _arc(poly: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(poly, axis=0).T))])


def _length(poly: np.ndarray) -> float:
    return float(_arc(poly)[-1])


def _at(poly: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Points at the given arc-length fractions of ``poly``."""
    arc = _arc(poly)
    total = arc[-1] if arc[-1] > 0 else 1.0
    s = np.clip(fractions, 0.0, 1.0) * total
    return np.stack([np.interp(s, arc, poly[:, 0]), np.interp(s, arc, poly[:, 1])], axis=1)


def _resample(poly: np.ndarray, segments: int) -> np.ndarray:
    return _at(poly, np.linspace(0.0, 1.0, segments + 1))


def _portion(poly: np.ndarray, start: float, end: float) -> np.ndarray:
    """The part of ``poly`` between two arc-length fractions, still dense."""
    arc = _arc(poly)
    total = arc[-1] if arc[-1] > 0 else 1.0
    inner = poly[(arc > start * total) & (arc < end * total)]
    ends = _at(poly, np.array([start, end]))
    return np.vstack([ends[:1], inner, ends[1:]])


def _normals(poly: np.ndarray) -> np.ndarray:
    """Unit normals to the left of the direction of travel as seen on screen (y down)."""
    d = np.gradient(poly, axis=0)
    n = np.stack([d[:, 1], -d[:, 0]], axis=1)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)


def _curve(curve: list | CurveRef, ctx: _Context, smooth: bool) -> np.ndarray:
    """A catalogue curve as a dense polyline in output px (continuous coordinates: pixel
    ``(i, j)`` covers ``[j, j + 1] x [i, i + 1]``)."""
    if isinstance(curve, CurveRef):
        poly = _dense(np.asarray(ctx.pose.curves[curve.ref], float) * ctx.canvas_h, smooth)
        poly = _portion(poly, *curve.span)
        if curve.reverse:
            poly = poly[::-1]
        offset = ctx.length_px(curve.offset)
        if offset:
            poly = poly + _normals(poly) * offset
        return poly
    return _dense(np.asarray(curve, float) * ctx.canvas_h, smooth)


def _segments_for(*polys: np.ndarray) -> int:
    return max(1, int(math.ceil(max(_length(p) for p in polys) / SEGMENT_PX)))


# ---------------------------------------------------------------- pieces
@dataclass
class _Piece:
    """A surface given as a grid of output-px points, ``grid[row, col]``: rows run from curve
    ``a`` (row 0) to curve ``b`` (last row), columns along the curves. ``rows_v`` is each row's
    position in [0, 1] from a to b. ``src`` is the S_flat rectangle shown, ``(sx0, sy0, sx1,
    sy1)`` in continuous px: x along the curves, y from a to b."""

    grid: np.ndarray
    rows_v: np.ndarray
    src: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    src_y_cols: np.ndarray | None = None
    """Optional ``(cols + 1, 2)``: source y range per grid column, replacing ``src``'s y range
    (a gathered drape shows fewer rows where it is narrow)."""

    @classmethod
    def between(cls, a: np.ndarray, b: np.ndarray) -> _Piece:
        return cls(np.stack([a, b]), np.array([0.0, 1.0]))

    @property
    def a(self) -> np.ndarray:
        return self.grid[0]

    @property
    def b(self) -> np.ndarray:
        return self.grid[-1]

    @property
    def along_px(self) -> float:
        return max(_length(row) for row in self.grid)

    @property
    def column_widths(self) -> np.ndarray:
        """Length (output px) of each grid column from a to b."""
        return np.sum(np.linalg.norm(np.diff(self.grid, axis=0), axis=2), axis=0)

    @property
    def across_px(self) -> float:
        return float(np.mean(self.column_widths))

    def gather(self) -> None:
        """Keep the widest column's pattern scale everywhere: narrower columns show fewer
        source rows, centred on the window (the rest is folded out of sight)."""
        _, sy0, _, sy1 = self.src
        widths = self.column_widths
        scale = max(float(widths.max()) / max(abs(sy1 - sy0), 1e-6), MIN_CLOTH_SCALE)
        half = np.minimum(widths / scale, abs(sy1 - sy0)) / 2 * np.sign(sy1 - sy0)
        centre = (sy0 + sy1) / 2
        self.src_y_cols = np.stack([centre - half, centre + half], axis=1)


def _rail_grid(rails: list[np.ndarray], smooth: bool) -> _Piece:
    """A piece through several rails (each resampled to the same column count): columns are
    splines through the rails, rows placed evenly by arc length along the columns."""
    columns = np.stack(rails, axis=0)  # (rails, cols, 2)
    if smooth and len(rails) >= 3:
        dense = np.stack([_catmull_rom(columns[:, i], 16) for i in range(columns.shape[1])], axis=1)
    else:
        dense = np.stack([_dense(columns[:, i], False) for i in range(columns.shape[1])], axis=1)
    arcs = np.stack([_arc(dense[:, i]) for i in range(dense.shape[1])], axis=1)
    fractions = np.mean(arcs / np.maximum(arcs[-1:], 1e-9), axis=1)
    rows = max(1, int(math.ceil(float(np.max(arcs[-1])) / (RAIL_ROW_FACTOR * SEGMENT_PX))))
    rows_v = np.linspace(0.0, 1.0, rows + 1)
    grid = np.stack(
        [
            np.stack([np.interp(rows_v, fractions, dense[:, i, k]) for k in range(2)], axis=1)
            for i in range(dense.shape[1])
        ],
        axis=1,
    )
    return _Piece(grid, rows_v)


@dataclass(frozen=True)
class _Frame:
    """The S_flat rectangle a region's window is relative to, and the part that really fills it."""

    rect: Rect
    part: PartName


def _frame(region: RegionSpec, ctx: _Context) -> _Frame:
    """The part's rectangle, or (for an absent part) the stretch of body standing in for it."""
    parts, (flat_w, flat_h) = ctx.parts, ctx.parts.flat_size
    body = parts.rect("body") or (0, 0, flat_w, flat_h)
    rect = parts.rect(region.part)
    if rect is None:
        bx, by, bw, bh = body
        if region.part == "border_top":
            rect = (bx, by, bw, min(bh, max(1, round(ABSENT_BORDER_FRACTION * flat_h))))
        elif region.part == "border_bottom":
            height = min(bh, max(1, round(ABSENT_BORDER_FRACTION * flat_h)))
            rect = (bx, by + bh - height, bw, height)
        elif region.part == "pallu":
            width = min(bw, max(1, round(ABSENT_PALLU_FRACTION * flat_w)))
            rect = (bx + bw - width, by, width, bh)
        else:
            rect = body
        return _Frame(rect=rect, part="body")
    if region.src.trim_to_body_rows and parts.present("body") and region.part != "body":
        x, y, w, h = rect
        top, bottom = max(y, body[1]), min(y + h, body[1] + body[3])
        if bottom - top >= 1:
            rect = (x, top, w, bottom - top)
    return _Frame(rect=rect, part=region.part)


def _auto_end(start: float, extent: float) -> tuple[float, float]:
    """A window ``[start, start + extent]`` of the unit interval, moved back to fit if needed."""
    extent = min(extent, 1.0)
    start = min(start, 1.0 - extent)
    return max(start, 0.0), max(start, 0.0) + extent


def _source(
    window: SourceWindow, frame: Rect, along_px: float, across_px: float, start: float | None = None
) -> tuple[float, float, float, float]:
    """The S_flat rectangle a piece shows; an automatic end keeps the cloth's aspect ratio.
    ``start`` replaces the window's start on its automatic axis (strips)."""
    fx, fy, fw, fh = frame
    x0, x1 = window.x
    y0, y1 = window.y
    if start is not None and x1 is None:
        x0 = start
    elif start is not None and y1 is None:
        y0 = start
    if x1 is None:
        scale = across_px / max(abs(y1 - y0) * fh, 1e-6)
        x0, x1 = _auto_end(x0, along_px / scale / fw)
    elif y1 is None:
        scale = along_px / max(abs(x1 - x0) * fw, 1e-6)
        y0, y1 = _auto_end(y0, across_px / scale / fh)
    sx0, sx1 = _limit_zoom_out(fx + x0 * fw, fx + x1 * fw, along_px)
    sy0, sy1 = _limit_zoom_out(fy + y0 * fh, fy + y1 * fh, across_px)
    if window.flip_x:
        sx0, sx1 = sx1, sx0
    if window.flip_y:
        sy0, sy1 = sy1, sy0
    return (sx0, sy0, sx1, sy1)


def _limit_zoom_out(lo: float, hi: float, dest_px: float) -> tuple[float, float]:
    """Narrow ``[lo, hi]`` about its centre to span at most ``dest_px / MIN_CLOTH_SCALE``."""
    most = dest_px / MIN_CLOTH_SCALE
    if hi - lo <= most:
        return lo, hi
    centre = (lo + hi) / 2
    return centre - most / 2, centre + most / 2


def _ribbon_edges(spine: np.ndarray, left: float, right: float) -> tuple[np.ndarray, np.ndarray]:
    """Resampled spine offset by ``left`` (edge a) and ``right`` (edge b) along its normals."""
    points = _resample(spine, _segments_for(spine))
    normals = _normals(points)
    return points + normals * left, points + normals * right


_Pieces = tuple[list["_Piece"], np.ndarray | None, float | None]
"""A region's pieces, its border centre line (or None) and the border's width (or None)."""


def _pieces(region: RegionSpec, frame: _Frame, ctx: _Context) -> _Pieces:
    """The region's pieces, plus its border centre line and width when it has a spine."""
    geometry = region.geometry
    window = region.src
    if isinstance(geometry, LoftGeometry):
        rails = [_curve(c, ctx, geometry.smooth) for c in (geometry.a, *geometry.via, geometry.b)]
        n = _segments_for(*rails)
        rails = [_resample(rail, n) for rail in rails]
        piece = _rail_grid(rails, geometry.smooth) if len(rails) > 2 else _Piece.between(*rails)
        piece.src = _source(window, frame.rect, piece.along_px, piece.across_px)
        if window.gather:
            piece.gather()
        return [piece], None, None
    if isinstance(geometry, RibbonGeometry):
        spine = _curve(geometry.spine, ctx, geometry.smooth)
        width = max(ctx.length_px(geometry.width), MIN_WIDTH_PX)
        piece = _Piece.between(*_ribbon_edges(spine, width / 2, -width / 2))
        piece.src = _source(window, frame.rect, piece.along_px, width)
        return [piece], spine, width
    if isinstance(geometry, StripsGeometry):
        return _strip_pieces(geometry, window, frame, ctx), None, None
    if isinstance(geometry, SheetGeometry):
        return _sheet_pieces(geometry, frame, ctx)
    raise InternalError(f"Unknown geometry {type(geometry).__name__}.")


def _strip_pieces(
    geometry: StripsGeometry, window: SourceWindow, frame: _Frame, ctx: _Context
) -> list[_Piece]:
    """Pleats: consecutive slices of the cloth, ``fold_ratio`` × a slice apart (wrapping)."""
    a = _curve(geometry.a, ctx, geometry.smooth)
    b = _curve(geometry.b, ctx, geometry.smooth)
    across = geometry.direction == "across"
    if across:
        n = _segments_for(a, b)
        a, b = _resample(a, n), _resample(b, n)
    cuts = np.linspace(0.0, 1.0, geometry.count + 1)
    frame_len = frame.rect[3] if across else frame.rect[2]
    start = window.y[0] if across else window.x[0]
    pieces: list[_Piece] = []
    for k in range(geometry.count):
        if across:
            piece = _Piece.between(a + (b - a) * cuts[k], a + (b - a) * cuts[k + 1])
        else:
            sub_a = _portion(a, cuts[k], cuts[k + 1])
            sub_b = _portion(b, cuts[k], cuts[k + 1])
            n = _segments_for(sub_a, sub_b)
            piece = _Piece.between(_resample(sub_a, n), _resample(sub_b, n))
        piece.src = _source(window, frame.rect, piece.along_px, piece.across_px, start=start)
        if across and window.gather:
            piece.gather()
        lo, hi = (piece.src[1], piece.src[3]) if across else (piece.src[0], piece.src[2])
        extent = abs(hi - lo) / frame_len
        room = 1.0 - extent
        start = start + extent * geometry.fold_ratio
        if start > room:
            start = (start % room) if room > 1e-6 else 0.0
        pieces.append(piece)
    return pieces


def _sheet_pieces(geometry: SheetGeometry, frame: _Frame, ctx: _Context) -> _Pieces:
    """The part's rectangle at its own place in S_flat laid flat along the spine."""
    spine = _curve(geometry.spine, ctx, geometry.smooth)
    length = _length(spine)
    width = length * ctx.flat_h / ctx.flat_w
    max_width = geometry.max_width * ctx.canvas_h
    if width > max_width:
        keep = max_width * ctx.flat_w / ctx.flat_h / length
        spine = _portion(spine, 0.5 - keep / 2, 0.5 + keep / 2)
        width = max_width
    x, y, w, h = frame.rect
    u0, u1 = x / ctx.flat_w, (x + w) / ctx.flat_w
    v0, v1 = y / ctx.flat_h, (y + h) / ctx.flat_h
    sub = _portion(spine, u0, u1)
    a, b = _ribbon_edges(sub, width / 2 - v0 * width, width / 2 - v1 * width)
    piece = _Piece.between(a, b)
    piece.src = (float(x), float(y), float(x + w), float(y + h))
    centre = _portion(spine, u0, u1) + _normals(sub) * (width / 2 - (v0 + v1) / 2 * width)
    return [piece], centre, (v1 - v0) * width


# ---------------------------------------------------------------- rasterising pieces
@dataclass
class _Buffers:
    """A region's arrays over a box of the canvas (before occlusion and cropping)."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    canvas_h: int
    map_x: np.ndarray = field(init=False)
    map_y: np.ndarray = field(init=False)
    shading: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.box
        shape = (max(y1 - y0, 0), max(x1 - x0, 0))
        self.map_x = np.full(shape, -1.0, np.float32)
        self.map_y = np.full(shape, -1.0, np.float32)
        self.shading = np.zeros(shape, np.float32)

    @property
    def covered(self) -> np.ndarray:
        return self.map_x >= 0


def _quad_constants(quads: np.ndarray) -> np.ndarray:
    """Per quad ``p0 p1 p2 p3`` (``(n, 4, 2)``): the constants of the inverse bilinear map,
    rows ``p0x, p0y, ex, ey, fx, fy, gx, gy`` (``(8, n)``) with ``p = p0 + s e + t f + s t g``."""
    p0 = quads[:, 0]
    e = quads[:, 1] - p0
    f = quads[:, 3] - p0
    g = p0 - quads[:, 1] + quads[:, 2] - quads[:, 3]
    return np.ascontiguousarray(np.concatenate([p0, e, f, g], axis=1).T.astype(np.float32))


def _inverse_bilinear(
    px: np.ndarray, py: np.ndarray, consts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(s, t)`` of each pixel in its quad (``consts`` from :func:`_quad_constants`, one
    column per pixel); NaN where there is no real solution. Inigo Quilez's closed form with the
    numerically stable root (``k0 / q``), which also covers parallelograms (``k2 = 0``) without a
    branch. float32 is enough: the pixel is taken relative to its quad's corner, so products
    stay small and ``(s, t)`` come out to ~1e-6."""
    p0x, p0y, ex, ey, fx, fy, gx, gy = consts
    hx, hy = px - p0x, py - p0y
    k2 = gx * fy - gy * fx
    k1 = (ex * fy - ey * fx) + (hx * gy - hy * gx)
    k0 = hx * ey - hy * ex
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        root = np.sqrt(k1 * k1 - np.float32(4.0) * k0 * k2)
        q = np.float32(-0.5) * (k1 + np.copysign(root, k1))
        t1 = k0 / q
        t2 = q / k2
        t = np.where((t1 >= -0.5) & (t1 <= 1.5), t1, t2)
        dx, dy = ex + gx * t, ey + gy * t
        s = ((hx - fx * t) * dx + (hy - fy * t) * dy) / (dx * dx + dy * dy)
    return s, t


def _shade(
    terms: list[Shading], u: np.ndarray, v: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """The product of a region's shading terms at piece coordinates ``(u, v)`` in [0, 1] and
    canvas position ``(x, y)`` in canvas-height units."""
    factor = np.ones_like(u)
    for term in terms:
        if isinstance(term, WaveShading):
            angle = math.radians(term.angle)
            phase = (x * math.cos(angle) + y * math.sin(angle)) / term.period + term.phase
            factor *= 1.0 - term.depth * (0.5 - 0.5 * np.cos(2 * np.pi * phase))
            continue
        if isinstance(term, PleatShading):
            # lit face skewed towards one edge, creases at both edges
            a = u if term.axis == "u" else v
            w = np.clip(a + term.skew * np.sin(np.pi * a), 0.0, 1.0)
            lit = np.clip(np.sin(np.pi * w), 0.0, 1.0) ** 0.6
            factor *= 1.0 + term.highlight - term.depth * (1.0 - lit)
            continue
        a = u if term.axis == "u" else v
        if isinstance(term, FoldsShading):
            phase = term.count * a + term.phase
            factor *= 1.0 - term.depth * (0.5 - 0.5 * np.cos(2 * np.pi * phase))
        elif isinstance(term, GradientShading):
            factor *= term.start + (term.end - term.start) * a
        elif isinstance(term, CylinderShading):
            factor *= term.edge + (1.0 - term.edge) * np.sqrt(np.clip(1.0 - (2 * a - 1) ** 2, 0, 1))
    return np.clip(factor, *SHADING_RANGE)


RASTER_BATCH_PX = 1 << 15
"""Pixels mapped per vectorised batch (keeps the temporaries in the CPU cache)."""
SUBPIXEL_SHIFT = 4
"""Quads are rasterised with vertex coordinates in 1/16 px (OpenCV's ``shift``)."""


def _rasterise(piece: _Piece, terms: list[Shading], frame: Rect, buf: _Buffers) -> None:
    """Fill ``buf`` with the piece's S_flat coordinates and shading.

    OpenCV fills each quad's outline with the quad's index (fast, and its inclusive fill leaves
    no gaps between neighbours); then every labelled pixel centre is mapped back to ``(s, t)`` in
    its quad, vectorised over the whole piece. Pixels on a quad's edge may get ``s`` or ``t`` a
    little outside [0, 1]: the bilinear map is continued smoothly there, and only the piece's
    own outer limits are clamped.
    """
    grid = piece.grid
    rows, cols = grid.shape[0] - 1, grid.shape[1] - 1
    quads = np.stack([grid[:-1, :-1], grid[:-1, 1:], grid[1:, 1:], grid[1:, :-1]], axis=2).reshape(
        -1, 4, 2
    )
    bx0, by0, bx1, by1 = buf.box
    x0 = max(int(math.floor(grid[..., 0].min())) - 1, bx0)
    y0 = max(int(math.floor(grid[..., 1].min())) - 1, by0)
    x1 = min(int(math.ceil(grid[..., 0].max())) + 2, bx1)
    y1 = min(int(math.ceil(grid[..., 1].max())) + 2, by1)
    if x1 <= x0 or y1 <= y0:
        return
    labels = np.full((y1 - y0, x1 - x0), -1, np.int32)
    # continuous coordinates → OpenCV pixel centres, in 1/16 px
    vertices = np.round((quads - [x0 + 0.5, y0 + 0.5]) * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
    for index, quad in enumerate(vertices):
        cv2.fillPoly(labels, [quad], index, lineType=cv2.LINE_8, shift=SUBPIXEL_SHIFT)
    iy, ix = np.nonzero(labels >= 0)
    owners = labels[iy, ix]
    consts = _quad_constants(quads)
    col_u = np.linspace(0.0, 1.0, cols + 1)
    quad_col = np.tile(np.arange(cols, dtype=np.float32), rows)
    quad_v0 = np.repeat(piece.rows_v[:-1], cols).astype(np.float32)
    quad_dv = np.repeat(np.diff(piece.rows_v), cols).astype(np.float32)
    fx, fy, fw, fh = frame
    sx0, sy0, sx1, sy1 = piece.src
    scale = 1.0 / buf.canvas_h
    stride = bx1 - bx0
    flat_x, flat_y, flat_s = buf.map_x.ravel(), buf.map_y.ravel(), buf.shading.ravel()
    # in batches: temporaries that fit in cache are several times faster than whole-image ones
    for start in range(0, iy.size, RASTER_BATCH_PX):
        owner = owners[start : start + RASTER_BATCH_PX]
        py = iy[start : start + RASTER_BATCH_PX] + y0
        px = ix[start : start + RASTER_BATCH_PX] + x0
        cx = px.astype(np.float32) + np.float32(0.5)
        cy = py.astype(np.float32) + np.float32(0.5)
        s, t = _inverse_bilinear(cx, cy, consts[:, owner])
        np.clip(np.nan_to_num(s, nan=0.5), -0.5, 1.5, out=s)
        np.clip(np.nan_to_num(t, nan=0.5), -0.5, 1.5, out=t)
        u = np.clip((quad_col[owner] + s) * np.float32(1.0 / cols), 0.0, 1.0)
        v = np.clip(quad_v0[owner] + quad_dv[owner] * t, 0.0, 1.0)
        flat = (py - by0) * stride + (px - bx0)
        # continuous source position → OpenCV pixel-centre coordinates, kept inside the frame
        flat_x[flat] = np.clip(sx0 + (sx1 - sx0) * u - 0.5, fx, fx + fw - 1)
        if piece.src_y_cols is not None:
            lo = np.interp(u, col_u, piece.src_y_cols[:, 0]).astype(np.float32)
            hi = np.interp(u, col_u, piece.src_y_cols[:, 1]).astype(np.float32)
            flat_y[flat] = np.clip(lo + (hi - lo) * v - 0.5, fy, fy + fh - 1)
        else:
            flat_y[flat] = np.clip(sy0 + (sy1 - sy0) * v - 0.5, fy, fy + fh - 1)
        flat_s[flat] = _shade(terms, u, v, cx * np.float32(scale), cy * np.float32(scale))


# ---------------------------------------------------------------- mannequin shapes
def _shape_outlines(shape: FigureShape, canvas_h: int) -> list[np.ndarray]:
    """Convex or simple polygons (output px) whose union is the shape."""
    if isinstance(shape, EllipseShape):
        angles = np.linspace(0, 2 * np.pi, 128, endpoint=False)
        ax, ay = shape.axes[0] * canvas_h, shape.axes[1] * canvas_h
        rot = math.radians(shape.angle)
        x, y = ax * np.cos(angles), ay * np.sin(angles)
        cx, cy = shape.centre[0] * canvas_h, shape.centre[1] * canvas_h
        return [
            np.stack(
                [
                    cx + x * math.cos(rot) - y * math.sin(rot),
                    cy + x * math.sin(rot) + y * math.cos(rot),
                ],
                axis=1,
            )
        ]
    if isinstance(shape, LimbShape):
        points = np.asarray(shape.points, float) * canvas_h
        radii = np.asarray(shape.radii, float) * canvas_h
        circle = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        ring = np.stack([np.cos(circle), np.sin(circle)], axis=1)
        hulls = []
        for i in range(len(points) - 1):
            both = np.vstack([points[i] + ring * radii[i], points[i + 1] + ring * radii[i + 1]])
            hulls.append(cv2.convexHull(both.astype(np.float32))[:, 0, :].astype(float))
        return hulls
    if isinstance(shape, BlobShape):
        points = np.asarray(shape.points, float) * canvas_h
        closed = np.vstack([points[-1:], points, points[:2]])
        return [_catmull_rom(closed, 16)[16:-17]]
    raise InternalError(f"Unknown shape {type(shape).__name__}.")


def shape_coverage(shape: FigureShape, canvas_size: tuple[int, int]) -> tuple[Rect, np.ndarray]:
    """Anti-aliased coverage in [0, 1] (float32) of a mannequin shape, cropped to its bbox.

    Shared by placement (a shape in front of a region takes the pixels it covers at least half)
    and the local renderer (which draws the shape with this coverage), so both agree exactly.
    """
    width, height = canvas_size
    outlines = _shape_outlines(shape, height)
    allpts = np.vstack(outlines)
    x0 = max(int(math.floor(allpts[:, 0].min())) - 2, 0)
    y0 = max(int(math.floor(allpts[:, 1].min())) - 2, 0)
    x1 = min(int(math.ceil(allpts[:, 0].max())) + 2, width)
    y1 = min(int(math.ceil(allpts[:, 1].max())) + 2, height)
    if x1 <= x0 or y1 <= y0:
        return (0, 0, 0, 0), np.zeros((0, 0), np.float32)
    coverage = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4  # sub-pixel vertex precision: 1/16 px
    for outline in outlines:
        layer = np.zeros_like(coverage)
        # continuous coordinates → OpenCV's pixel-centre convention, in 1/16 px
        pts = np.round((outline - [x0 + 0.5, y0 + 0.5]) * (1 << shift)).astype(np.int32)
        cv2.fillPoly(layer, [pts], 255, lineType=cv2.LINE_AA, shift=shift)
        np.maximum(coverage, layer, out=coverage)
    return (x0, y0, x1 - x0, y1 - y0), coverage.astype(np.float32) / 255.0


# ---------------------------------------------------------------- building the map
@dataclass
class _Built:
    spec: RegionSpec
    frame: _Frame
    buffers: _Buffers
    path: np.ndarray | None
    width: float | None


def _build_region(region: RegionSpec, ctx: _Context) -> _Built | None:
    frame = _frame(region, ctx)
    if isinstance(region.geometry, SheetGeometry) and not ctx.parts.present(region.part):
        return None  # a flat lay shows S_flat as it is: an absent part has no place in it
    pieces, spine, width = _pieces(region, frame, ctx)
    allpts = np.vstack([p.grid.reshape(-1, 2) for p in pieces])
    box = (
        max(int(math.floor(allpts[:, 0].min())) - 1, 0),
        max(int(math.floor(allpts[:, 1].min())) - 1, 0),
        min(int(math.ceil(allpts[:, 0].max())) + 2, ctx.canvas_w),
        min(int(math.ceil(allpts[:, 1].max())) + 2, ctx.canvas_h),
    )
    buffers = _Buffers(box, ctx.canvas_h)
    for piece in pieces:
        _rasterise(piece, region.shading, frame.rect, buffers)
    path = None
    if region.kind == "border":
        if spine is None:  # loft or strips: the centre line between a and b
            mids = [(p.a + p.b) / 2 for p in pieces]
            spine = np.vstack([mids[0]] + [m[1:] for m in mids[1:]])
            width = float(np.mean([p.across_px for p in pieces]))
        path = _resample(spine, max(1, int(math.ceil(_length(spine) / BORDER_PATH_STEP_PX))))
    return _Built(region, frame, buffers, path, width)


def _trim_path(path: np.ndarray, mask: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """Drop path ends that lie where the region is hidden (behind a later layer, or off the
    canvas); a point counts as visible within one pixel of the region's mask."""
    x0, y0 = origin
    h, w = mask.shape
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    cols = np.floor(path[:, 0]).astype(int) - x0
    rows = np.floor(path[:, 1]).astype(int) - y0
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    inside[inside] = grown[rows[inside], cols[inside]]
    # the longest visible stretch: a border hidden in its middle would read as broken
    best, best_len, start = (0, 0), 0, None
    for i, visible in enumerate([*inside.tolist(), False]):
        if visible and start is None:
            start = i
        elif not visible and start is not None:
            if i - start > best_len:
                best, best_len = (start, i), i - start
            start = None
    return path[best[0] : best[1]]


def _paint(built: list[_Built], pose: PoseSpec, size: tuple[int, int]) -> np.ndarray:
    """Painter's algorithm over regions and mannequin shapes, back to front: an ``int16`` canvas
    holding, per pixel, the index of the visible region (or a shape / nothing)."""
    canvas_w, canvas_h = size
    layers: list[tuple[float, int, object]] = [(s.z, i, s) for i, s in enumerate(pose.shapes)]
    layers += [(b.spec.z, len(pose.shapes) + i, i) for i, b in enumerate(built)]
    layers.sort(key=lambda layer: (layer[0], layer[1]))
    owner = np.full((canvas_h, canvas_w), NO_OWNER, np.int16)
    for _, _, item in layers:
        if isinstance(item, int):
            buf = built[item].buffers
            x0, y0, x1, y1 = buf.box
            owner[y0:y1, x0:x1][buf.covered] = item
        else:
            (x, y, w, h), coverage = shape_coverage(item, size)
            owner[y : y + h, x : x + w][coverage >= 0.5] = SHAPE_OWNER
    return owner


def _visible(item: _Built, index: int, owner: np.ndarray) -> tuple[np.ndarray, Rect] | None:
    """The region's visible mask cropped to its tight bbox, or None when too little shows to be
    worth a region (a sliver, or a border whose visible stretch is too short to check)."""
    x0, y0, x1, y1 = item.buffers.box
    mask = (owner[y0:y1, x0:x1] == index) & item.buffers.covered
    if mask.sum() < MIN_REGION_FRACTION * owner.size:
        return None
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    bbox = (int(x0 + left), int(y0 + top), int(right - left), int(bottom - top))
    mask = mask[top:bottom, left:right]
    if item.path is not None:
        visible = _trim_path(item.path, mask, (bbox[0], bbox[1]))
        if len(visible) < 2 or _length(visible) < MIN_BORDER_PATH_PX:
            return None
    return mask, bbox


def build_placement(pose: PoseSpec, parts: PartsInfo, *, canvas_height: int) -> PlacementMap:
    """The placement map of ``pose`` for a saree whose S_flat has ``parts``.

    Deterministic: the same pose, parts and height give identical arrays. Regions come out in
    draw order. A region that later layers hide (all but a sliver, or a border whose visible
    stretch is too short to check) is left out, and what is behind it shows instead. An absent
    part's regions are filled from the body (the region keeps its kind; its ``part`` becomes
    ``"body"``).
    """
    canvas_w, canvas_h = pose.canvas_size(canvas_height)
    ctx = _Context(pose=pose, parts=parts, canvas_w=canvas_w, canvas_h=canvas_h)
    built = [b for region in pose.regions if (b := _build_region(region, ctx)) is not None]
    while True:
        owner = _paint(built, pose, (canvas_w, canvas_h))
        shown = {i: _visible(item, i, owner) for i, item in enumerate(built)}
        hidden = [i for i, found in shown.items() if found is None]
        if not hidden:
            break
        built = [item for i, item in enumerate(built) if i not in hidden]
    if not built:
        raise InternalError(f"Pose {pose.id} has no visible cloth region.")

    regions: list[PlacementRegion] = []
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for index in sorted(range(len(built)), key=lambda i: (built[i].spec.z, i)):
        item = built[index]
        mask, bbox = shown[index]
        bx0, by0 = item.buffers.box[:2]
        crop = (
            slice(bbox[1] - by0, bbox[1] - by0 + bbox[3]),
            slice(bbox[0] - bx0, bbox[0] - bx0 + bbox[2]),
        )
        arrays[item.spec.name] = {
            "map_x": np.where(mask, item.buffers.map_x[crop], -1.0).astype(np.float32),
            "map_y": np.where(mask, item.buffers.map_y[crop], -1.0).astype(np.float32),
            "shading": np.where(mask, item.buffers.shading[crop], 0.0).astype(np.float32),
        }
        border_path = width = None
        if item.path is not None:
            # continuous coordinates → OpenCV pixel-centre convention
            trimmed = _trim_path(item.path, mask, (bbox[0], bbox[1])) - 0.5
            border_path = [(round(float(x), 3), round(float(y), 3)) for x, y in trimmed]
            width = round(float(item.width), 3)
        regions.append(
            PlacementRegion(
                name=item.spec.name,
                kind=item.spec.kind,
                part=item.frame.part,
                bbox=bbox,
                border_path=border_path,
                border_width_px=width,
            )
        )
    return PlacementMap(
        pose=pose.id,
        canvas_size=(canvas_w, canvas_h),
        flat_size=tuple(parts.flat_size),
        regions=regions,
        arrays=arrays,
    )


def expected_region(
    s_flat: np.ndarray, placement: PlacementMap, region: str
) -> tuple[np.ndarray, np.ndarray]:
    """The exact pixels a faithful renderer puts in ``region``: ``(rgb, mask)`` over its bbox.

    ``rgb = round(cv2.remap(s_flat, map_x, map_y, INTER_LINEAR) * shading)`` (uint8, clipped),
    zero outside the mask. The local renderer writes exactly these pixels; validation compares
    an output against them.
    """
    arrs = placement.arrays[region]
    mask = arrs["map_x"] >= 0
    sampled = cv2.remap(s_flat, arrs["map_x"], arrs["map_y"], cv2.INTER_LINEAR)
    shaded = sampled.astype(np.float32)
    shaded *= arrs["shading"][..., None]
    np.rint(shaded, out=shaded)
    np.clip(shaded, 0, 255, out=shaded)
    rgb = shaded.astype(np.uint8)
    rgb *= mask[..., None]
    return rgb, mask


def owner_mask(placement: PlacementMap) -> np.ndarray:
    """Canvas-sized ``int16`` image: index of the region owning each pixel, -1 for none."""
    width, height = placement.canvas_size
    owner = np.full((height, width), NO_OWNER, np.int16)
    for index, region in enumerate(placement.regions):
        x, y, w, h = region.bbox
        owner[y : y + h, x : x + w][placement.mask(region.name)] = index
    return owner
