"""The pose catalogue (``catalogue/poses.json``) and the fixed mode → poses mapping.

Poses are data, not code (DESIGN §3): a pose names its label, canvas aspect, the mannequin it
shows, named curves (waist, hem, ...), and its cloth regions, each built from a small set of
geometry primitives that :mod:`sareeflow.placement` knows how to rasterise (``loft`` between two
curves, ``ribbon`` along a spine, ``strips`` for pleats, ``sheet`` for a flat lay). Adding a pose,
or a new pose set, is an edit of the JSON file as long as it uses these primitives.

Coordinates in the catalogue are in *canvas-height units*: ``(0, 0)`` is the top-left corner,
``y = 1`` the bottom edge and ``x = aspect_w / aspect_h`` the right edge. One unit is the same
length along both axes, so a circle stays a circle whatever the canvas height.

Lengths (ribbon widths, curve offsets) are either a number in canvas-height units, a
``{"part": ..., "factor": ...}`` object meaning "this part's height in S_flat, drawn at the pose's
natural cloth scale", or a list of those, summed. The natural cloth scale is set by the pose's
``drop``: the fraction of the canvas height that the cloth's full width (S_flat height) would
span, e.g. waist to floor on a standing figure.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sareeflow.errors import InvalidInput
from sareeflow.models import PartName, RegionKind

DEFAULT_CATALOGUE_PATH = Path(__file__).parent / "catalogue" / "poses.json"

Point = tuple[float, float]
"""``(x, y)`` in canvas-height units."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- lengths and curves
class PartLength(_Strict):
    """A length from a part: ``factor`` × the part's S_flat height at the pose's cloth scale."""

    part: PartName
    factor: float = 1.0


LengthTerm = float | PartLength
Length = LengthTerm | list[LengthTerm]
"""A number (canvas-height units), a part-derived length, or a list of them (summed)."""


class CurveRef(_Strict):
    """A pose-level named curve, optionally a portion of it, reversed, or offset sideways."""

    ref: str
    span: tuple[float, float] = Field(
        (0.0, 1.0), description="Portion of the curve by arc length, as fractions in [0, 1]."
    )
    reverse: bool = False
    offset: Length = Field(
        0.0,
        description="Sideways offset; positive = to the left of the direction of travel "
        "as seen on screen (up, for a curve drawn left to right).",
    )


Curve = list[Point] | CurveRef


# ---------------------------------------------------------------- geometry primitives
class LoftGeometry(_Strict):
    """A surface between curve ``a`` and curve ``b``; source x runs along them, source y a→b."""

    type: Literal["loft"]
    a: Curve
    b: Curve
    via: list[Curve] = Field(
        default=[], description="Intermediate rails between a and b (a hip line, a knee line)."
    )
    smooth: bool = True


class RibbonGeometry(_Strict):
    """A band of constant width centred on ``spine``; source x runs along, source y across
    (source y0 on the spine's left side as seen on screen, i.e. the top for a left→right spine).
    """

    type: Literal["ribbon"]
    spine: Curve
    width: Length
    smooth: bool = True


class StripsGeometry(_Strict):
    """Pleats: the loft ``a``→``b`` cut into ``count`` strips, each showing its own slice of the
    cloth; consecutive slices are ``fold_ratio`` × a slice apart (the cloth between is folded out
    of sight). ``along``: strips side by side along the curves, each a slice of source x (front
    pleats; source x must have an automatic end). ``across``: strips stacked from a to b, each a
    slice of source y (a pleated pallu over the shoulder; source y must have an automatic end).
    """

    type: Literal["strips"]
    a: Curve
    b: Curve
    count: int = Field(ge=1, le=64)
    fold_ratio: float = Field(2.0, ge=1.0)
    direction: Literal["along", "across"] = "along"
    smooth: bool = True


class SheetGeometry(_Strict):
    """The whole of S_flat laid flat along ``spine`` (aspect kept, at most ``max_width`` wide).
    A region with this geometry shows its part at the part's own place in S_flat."""

    type: Literal["sheet"]
    spine: Curve
    max_width: float = Field(gt=0)
    smooth: bool = True


Geometry = Annotated[
    LoftGeometry | RibbonGeometry | StripsGeometry | SheetGeometry, Field(discriminator="type")
]


class SourceWindow(_Strict):
    """Which window of the part fills the region, in normalised part coordinates.

    ``None`` as the end of ``x`` or ``y`` means "as long as needed to keep the cloth's aspect":
    computed from the destination's length and width so that motifs are not stretched.
    """

    x: tuple[float, float | None] = (0.0, 1.0)
    y: tuple[float, float | None] = (0.0, 1.0)
    flip_x: bool = False
    flip_y: bool = False
    gather: bool = Field(
        False,
        description="Where the region narrows, keep the pattern's scale and let the cloth's "
        "edges fold out of sight (a pallu gathered at the shoulder) instead of squeezing the "
        "pattern; source y only (lofts and strips stacked across).",
    )
    trim_to_body_rows: bool = Field(
        False,
        description="Clip the part's rows to the body's rows (keeps a pallu's own border "
        "stripes out when the pose draws border ribbons beside it).",
    )

    @model_validator(mode="after")
    def _one_auto_axis(self) -> SourceWindow:
        if self.x[1] is None and self.y[1] is None:
            raise ValueError("at most one of src.x and src.y may have an automatic end")
        return self


# ---------------------------------------------------------------- shading terms
class FoldsShading(_Strict):
    """Soft cosine folds: factor in ``[1 - depth, 1]``, ``count`` periods along ``axis``."""

    type: Literal["folds"]
    axis: Literal["u", "v"]
    count: float = Field(gt=0)
    depth: float = Field(ge=0, le=0.5)
    phase: float = 0.0


class PleatShading(_Strict):
    """One pleat per piece: dark creases at both edges (``1 + highlight - depth``), lit face
    (``1 + highlight``) in the middle, across ``axis``; ``skew`` moves the lit face towards one
    edge. Use ``v`` for strips stacked ``across``."""

    type: Literal["pleat"]
    axis: Literal["u", "v"] = "u"
    depth: float = Field(ge=0, le=0.5)
    highlight: float = Field(0.0, ge=0, le=0.1)
    skew: float = Field(0.0, ge=-0.4, le=0.4)


class GradientShading(_Strict):
    """Linear light fall-off from ``start`` to ``end`` along ``axis``."""

    type: Literal["gradient"]
    axis: Literal["u", "v"]
    start: float = Field(ge=0.4, le=1.1)
    end: float = Field(ge=0.4, le=1.1)


class CylinderShading(_Strict):
    """A round form turning away at both ends of ``axis`` (``edge`` at the ends, 1 between)."""

    type: Literal["cylinder"]
    axis: Literal["u", "v"]
    edge: float = Field(ge=0.4, le=1.0)


class WaveShading(_Strict):
    """Soft folds fixed to the canvas rather than to a region: a cosine of period ``period``
    (canvas-height units) across the direction ``angle`` (degrees from the x axis). Continuous
    from one region to the next, so a drape made of several regions folds as one cloth."""

    type: Literal["wave"]
    angle: float
    period: float = Field(gt=0)
    depth: float = Field(ge=0, le=0.5)
    phase: float = 0.0


Shading = Annotated[
    FoldsShading | PleatShading | GradientShading | CylinderShading | WaveShading,
    Field(discriminator="type"),
]


class RegionSpec(_Strict):
    """One cloth region of a pose: what it is, what fills it, where, and how it is lit."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: RegionKind
    part: PartName
    z: float = Field(0.0, description="Depth order; higher is in front. Ties keep list order.")
    geometry: Geometry
    src: SourceWindow = SourceWindow()
    shading: list[Shading] = []

    @model_validator(mode="after")
    def _strips_have_auto_axis(self) -> RegionSpec:
        geometry = self.geometry
        if isinstance(geometry, StripsGeometry):
            auto = self.src.x[1] if geometry.direction == "along" else self.src.y[1]
            if auto is not None:
                axis = "x" if geometry.direction == "along" else "y"
                raise ValueError(
                    f"region {self.name}: strips {geometry.direction} need an "
                    f"automatic end on src.{axis}"
                )
        return self


# ---------------------------------------------------------------- mannequin
class EllipseShape(_Strict):
    type: Literal["ellipse"]
    name: str = ""
    centre: Point
    axes: tuple[float, float]
    angle: float = Field(0.0, description="Degrees, clockwise on screen.")
    z: float = 0.0
    tone: float = Field(1.0, gt=0, le=1.2, description="Brightness relative to the base grey.")


class LimbShape(_Strict):
    """A tapered tube through ``points`` with ``radii`` (arms, neck)."""

    type: Literal["limb"]
    name: str = ""
    points: list[Point] = Field(min_length=2)
    radii: list[float] = Field(min_length=2)
    z: float = 0.0
    tone: float = Field(1.0, gt=0, le=1.2)

    @model_validator(mode="after")
    def _same_length(self) -> LimbShape:
        if len(self.points) != len(self.radii):
            raise ValueError("a limb needs one radius per point")
        return self


class BlobShape(_Strict):
    """A closed smooth outline through ``points`` (torso)."""

    type: Literal["blob"]
    name: str = ""
    points: list[Point] = Field(min_length=3)
    z: float = 0.0
    tone: float = Field(1.0, gt=0, le=1.2)


FigureShape = Annotated[EllipseShape | LimbShape | BlobShape, Field(discriminator="type")]


class FigureRef(_Strict):
    """Which catalogue figure a pose shows, optionally mirrored left-right about ``mirror_x``,
    with some shapes moved in depth (``z`` by shape name: an arm in front of or behind a drape)."""

    name: str
    z: dict[str, float] = {}
    squeeze: float = Field(
        1.0,
        gt=0,
        le=1.0,
        description="Horizontal squeeze about ``mirror_x``: a figure turned "
        "away from the camera looks narrower (0.8 ≈ a half turn).",
    )
    mirror: bool = False
    mirror_x: float = Field(1 / 3, description="Vertical axis of the mirror (canvas-height units).")


class View(_Strict):
    """Zoom and pan applied to everything a pose draws: ``p' = p * scale + (dx, dy)``.

    Poses are authored in *figure space* (the catalogue's mannequin at scale 1); a close crop
    is the same drawing seen through a view. Lengths in canvas units and ``drop`` scale with it.
    """

    scale: float = Field(1.0, gt=0)
    dx: float = 0.0
    dy: float = 0.0


# ---------------------------------------------------------------- poses and catalogue
class PoseSpec(_Strict):
    """Everything needed to build a pose's placement map and render it."""

    id: str = Field(pattern=r"^\d{2}$")
    label: str = Field(min_length=1)
    description: str = Field("", description="Plain description, usable as a remote prompt hint.")
    aspect: tuple[int, int] = Field(description="Canvas (w, h) ratio, e.g. (2, 3).")
    background: Literal["studio", "surface"] = "studio"
    floor_y: float | None = Field(None, description="Floor line (canvas-height units), if any.")
    full_bleed: bool = Field(False, description="Cloth fills the frame (close-ups).")
    drop: float = Field(gt=0, description="Canvas-height fraction the cloth's full width spans.")
    figure: FigureRef | None = None
    view: View = Field(
        View(),
        description="Applied when the catalogue is loaded; the other fields are stored "
        "already transformed.",
    )
    shapes: list[FigureShape] = Field(
        default=[], description="The mannequin's shapes, placed (filled in from `figure`)."
    )
    drapes: list[str] = Field(
        default=[],
        description="Shared drapes whose curves and regions this pose includes "
        "(filled in when the catalogue is loaded).",
    )
    curves: dict[str, list[Point]] = {}
    regions: list[RegionSpec] = Field(min_length=1)
    resolved: bool = Field(
        False,
        description="Set once drapes, figure and view have been applied (so a dumped "
        "catalogue validates again unchanged).",
    )

    def canvas_size(self, canvas_height: int) -> tuple[int, int]:
        """``(w, h)`` in px of this pose's canvas for a given height."""
        aspect_w, aspect_h = self.aspect
        return (int(round(canvas_height * aspect_w / aspect_h)), int(canvas_height))

    @model_validator(mode="after")
    def _consistent(self) -> PoseSpec:
        names = [region.name for region in self.regions]
        if len(set(names)) != len(names):
            raise ValueError(f"pose {self.id}: region names must be unique")
        for region in self.regions:
            for curve in _curves_of(region):
                if isinstance(curve, CurveRef) and curve.ref not in self.curves:
                    raise ValueError(
                        f"pose {self.id}: region {region.name} uses unknown curve {curve.ref!r}"
                    )
        return self


def _curves_of(region: RegionSpec) -> list[Curve]:
    geometry = region.geometry
    if isinstance(geometry, LoftGeometry):
        return [geometry.a, *geometry.via, geometry.b]
    if isinstance(geometry, StripsGeometry):
        return [geometry.a, geometry.b]
    return [geometry.spine]


class Drape(_Strict):
    """Curves and regions shared by several poses (a nivi skirt with its pleats, a pallu band)."""

    curves: dict[str, list[Point]] = {}
    regions: list[dict] = []


class Catalogue(_Strict):
    """The whole catalogue: poses by id, the figures and drapes they use, and the mode → poses
    table."""

    version: int
    about: str = ""
    aspect: tuple[int, int]
    modes: dict[str, tuple[str, ...]]
    figures: dict[str, list[FigureShape]] = {}
    drapes: dict[str, Drape] = {}
    poses: dict[str, PoseSpec]

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: dict) -> dict:
        """Fill each pose's id, default aspect and placed figure, and apply its view."""
        if not isinstance(data, dict):
            return data
        figures = data.get("figures", {})
        poses = {}
        for pose_id, raw in data.get("poses", {}).items():
            pose = raw.model_dump() if isinstance(raw, BaseModel) else dict(raw)
            if pose.get("resolved"):
                poses[pose_id] = pose
                continue
            pose.setdefault("id", pose_id)
            pose.setdefault("aspect", data.get("aspect"))
            _include_drapes(pose, data.get("drapes", {}), pose_id)
            view = View.model_validate(pose.get("view", {}))
            figure = pose.get("figure")
            if figure is not None and "shapes" not in pose:
                ref = FigureRef.model_validate(figure)
                if ref.name not in figures:
                    raise ValueError(f"pose {pose_id}: unknown figure {ref.name!r}")
                pose["shapes"] = [_place_shape(shape, ref, view) for shape in figures[ref.name]]
            if view != View():
                _apply_view(pose, view)
            pose["resolved"] = True
            poses[pose_id] = pose
        return {**data, "poses": poses}

    @model_validator(mode="after")
    def _check(self) -> Catalogue:
        for pose_id, pose in self.poses.items():
            if pose.id != pose_id:
                raise ValueError(f"pose key {pose_id!r} differs from its id {pose.id!r}")
        labels = [pose.label for pose in self.poses.values()]
        if len(set(labels)) != len(labels):
            raise ValueError("pose labels must be unique")
        for mode, pose_ids in self.modes.items():
            unknown = [pose_id for pose_id in pose_ids if pose_id not in self.poses]
            if unknown:
                raise ValueError(f"mode {mode!r} lists unknown poses {unknown}")
        return self


def _include_drapes(pose: dict, drapes: dict, pose_id: str) -> None:
    """Prepend the regions of the pose's drapes and add their curves (the pose's own win)."""
    curves: dict = {}
    regions: list = []
    for name in pose.get("drapes", []):
        if name not in drapes:
            raise ValueError(f"pose {pose_id}: unknown drape {name!r}")
        drape = drapes[name]
        drape = drape.model_dump() if isinstance(drape, BaseModel) else drape
        curves.update(drape.get("curves", {}))
        regions.extend(drape.get("regions", []))
    if curves or regions:
        pose["curves"] = {**curves, **pose.get("curves", {})}
        pose["regions"] = [*regions, *pose.get("regions", [])]


def _place_shape(shape: dict, ref: FigureRef, view: View) -> dict:
    """A figure shape moved into a pose's frame (mirror, then the view)."""

    def place(point: list[float] | tuple[float, float]) -> tuple[float, float]:
        x, y = point
        x = ref.mirror_x + (x - ref.mirror_x) * ref.squeeze
        if ref.mirror:
            x = 2 * ref.mirror_x - x
        return (x * view.scale + view.dx, y * view.scale + view.dy)

    placed = dict(shape)
    if placed.get("name") in ref.z:
        placed["z"] = ref.z[placed["name"]]
    if "centre" in placed:
        placed["centre"] = place(placed["centre"])
        ax, ay = placed["axes"]
        placed["axes"] = (ax * view.scale * ref.squeeze, ay * view.scale)
        if ref.mirror:
            placed["angle"] = -placed.get("angle", 0.0)
    if "points" in placed:
        placed["points"] = [place(point) for point in placed["points"]]
    if "radii" in placed:
        placed["radii"] = [r * view.scale * (0.5 + 0.5 * ref.squeeze) for r in placed["radii"]]
    return placed


def _apply_view(pose: dict, view: View) -> None:
    """Transform a raw pose's points and lengths (in place) by its view."""

    def point(p: list[float]) -> list[float]:
        return [p[0] * view.scale + view.dx, p[1] * view.scale + view.dy]

    def length(value):
        if isinstance(value, int | float):
            return value * view.scale
        if isinstance(value, list):
            return [length(term) for term in value]
        return value  # a part-derived length follows ``drop``, which is scaled below

    def curve(value):
        if isinstance(value, list):
            return [point(p) for p in value]
        if isinstance(value, dict) and "offset" in value:
            return {**value, "offset": length(value["offset"])}
        return value

    def wave(term: dict) -> dict:
        """Canvas-fixed folds move with the drawing: scale the period, shift the phase."""
        if term.get("type") != "wave":
            return term
        angle = math.radians(term["angle"])
        period = term["period"] * view.scale
        shift = (view.dx * math.cos(angle) + view.dy * math.sin(angle)) / period
        return {**term, "period": period, "phase": term.get("phase", 0.0) - shift}

    pose["drop"] = pose["drop"] * view.scale
    if pose.get("floor_y") is not None:
        pose["floor_y"] = pose["floor_y"] * view.scale + view.dy
    pose["curves"] = {name: curve(c) for name, c in pose.get("curves", {}).items()}
    regions = []
    for region in pose.get("regions", []):
        geometry = dict(region.get("geometry", {}))
        for key in ("a", "b", "spine"):
            if key in geometry:
                geometry[key] = curve(geometry[key])
        if "via" in geometry:
            geometry["via"] = [curve(c) for c in geometry["via"]]
        for key in ("width", "max_width"):
            if key in geometry:
                geometry[key] = length(geometry[key])
        shading = [wave(term) for term in region.get("shading", [])]
        regions.append({**region, "geometry": geometry, "shading": shading})
    pose["regions"] = regions


# ---------------------------------------------------------------- loading and modes
@lru_cache(maxsize=1)
def _load_default() -> Catalogue:
    return _load(DEFAULT_CATALOGUE_PATH)


def _load(path: Path) -> Catalogue:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Catalogue.model_validate(data)
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise InvalidInput(
            f"The pose catalogue {path.name} could not be loaded.", detail=str(exc)
        ) from exc


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The pose catalogue at ``path`` (default: the bundled one, loaded once and cached)."""
    if path is None or Path(path).resolve() == DEFAULT_CATALOGUE_PATH.resolve():
        return _load_default()
    return _load(Path(path))


def get_pose(pose_id: str, catalogue: Catalogue | None = None) -> PoseSpec:
    """One pose by id, or :class:`InvalidInput` naming the unknown id."""
    poses = (catalogue or load_catalogue()).poses
    if pose_id not in poses:
        raise InvalidInput(f"Unknown pose {pose_id!r}.")
    return poses[pose_id]


MODE_POSES: dict[str, tuple[str, ...]] = {
    "standard": ("01", "02", "03", "04"),
    "extend": ("05", "06", "07", "08", "09", "10", "11", "12"),
}
"""The fixed mode → poses mapping (the seed's "fixed pose mapping"; clients never pass pose ids).

``retry_failed`` is not here: its poses are the ones whose latest outcome failed, which only the
flow knows. The catalogue file repeats this table under ``modes`` so that a new pose set can be
described beside its poses; :func:`poses_for_mode` reads the catalogue, and a test keeps the two
equal for the bundled catalogue.
"""


def poses_for_mode(mode: str, catalogue: Catalogue | None = None) -> tuple[str, ...]:
    """Pose ids a mode generates, in order; :class:`InvalidInput` for an unknown mode."""
    modes = (catalogue or load_catalogue()).modes
    if mode == "retry_failed":
        raise InvalidInput(
            "retry_failed has no fixed poses: they are the poses whose latest outcome failed."
        )
    if mode not in modes:
        known = ", ".join(sorted([*modes, "retry_failed"]))
        raise InvalidInput(f"Unknown mode {mode!r}; expected one of: {known}.")
    return modes[mode]
