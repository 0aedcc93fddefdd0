"""Generated product photos of a flat saree, with exact ground truth.

:func:`make_photo` lays a canonical cloth (from :func:`~sareeflow.synth.cloth.make_cloth`) on a
background the way a seller photographs one: a random backdrop (wood, floor tiles, studio
sweep, fabric, or one close in colour to the cloth), the cloth as a mildly tilted quadrilateral
turned by 0/90/180/270 degrees (so the pallu can be on any side), fold creases (on ``hard``: a
saree laid out after being folded keeps a crease across its width at each fold, shaded light on
one side and dark on the other, plus a few soft wrinkles), a soft drop shadow, an uneven light
field, sensor noise and a JPEG round trip.

Geometry conventions: corners are continuous photo coordinates in which pixel ``(i, j)`` covers
``[i, i+1) x [j, j+1)`` (so the polygon area equals the mask's pixel count). The cloth keeps its
long side as the longer side of the quad, but to cover 35-75 % of the frame a long saree is
shown foreshortened (its length/height ratio on the photo is capped); stages are compared with
the truth in relative, not absolute, cloth coordinates.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sareeflow.synth.cloth import ClothTruth, make_cloth

Difficulty = Literal["easy", "normal", "hard"]
Background = Literal["wood", "tiles", "studio", "fabric", "similar"]
PalluSide = Literal["left", "right", "top", "bottom"]

COVERAGE_RANGE = (0.35, 0.75)
"""Fraction of the frame the cloth covers (guaranteed)."""
TARGET_COVERAGE = (0.40, 0.65)
"""Coverage drawn before tilt and fitting adjust it."""
MARGIN_FRAC = 0.04
"""Minimum gap between the cloth and the frame edge, fraction of the frame's short side."""
MIN_PHOTO_ASPECT = 1.3
"""The cloth's long side stays at least this much longer than its short side on the photo."""
ILLUMINATION_RANGE = (0.75, 1.1)
"""Multiplicative light field limits (normal/hard)."""
JPEG_QUALITY_RANGE = (80, 95)
MAX_LAYOUT_TRIES = 50


class _Level(BaseModel):
    rotations: tuple[int, ...]
    max_tilt_deg: float
    corner_jitter: float  # fraction of the quad's short side
    light_lo: tuple[float, float]
    light_hi: tuple[float, float]
    noise_sigma: tuple[float, float]
    p_similar: float
    backgrounds: tuple[Background, ...]
    creases: tuple[int, int] = (0, 0)
    """Fold creases across the cloth's width (inclusive range drawn per photo)."""


LEVELS: dict[str, _Level] = {
    "easy": _Level(
        rotations=(0, 2),
        max_tilt_deg=2.0,
        corner_jitter=0.01,
        light_lo=(0.9, 0.95),
        light_hi=(1.0, 1.04),
        noise_sigma=(0.8, 1.5),
        p_similar=0.0,
        backgrounds=("studio", "wood"),
    ),
    "normal": _Level(
        rotations=(0, 1, 2, 3),
        max_tilt_deg=6.0,
        corner_jitter=0.04,
        light_lo=(0.75, 0.88),
        light_hi=(1.0, 1.1),
        noise_sigma=(1.0, 2.5),
        p_similar=0.12,
        backgrounds=("wood", "tiles", "studio", "fabric"),
    ),
    "hard": _Level(
        rotations=(0, 1, 2, 3),
        max_tilt_deg=10.0,
        corner_jitter=0.07,
        light_lo=(0.75, 0.8),
        light_hi=(1.05, 1.1),
        noise_sigma=(2.0, 4.0),
        p_similar=0.35,
        backgrounds=("wood", "tiles", "studio", "fabric"),
        creases=(1, 3),
    ),
}
CREASE_DEPTH = (0.10, 0.22)
"""Peak light change at a crease (fraction): a pressed fold under soft room light."""
CREASE_WIDTH_FRAC = (0.006, 0.015)
"""Crease half-width as a fraction of the cloth's length."""
WRINKLE_DEPTH = 0.05
"""Amplitude of the soft wrinkles between creases (fraction of the light)."""


class PhotoTruth(BaseModel):
    """Ground truth of a generated photo. Arrays are excluded from JSON."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    size: tuple[int, int] = Field(description="(w, h) of the photo.")
    corners: list[tuple[float, float]] = Field(
        description="The cloth's canonical TL, TR, BR, BL in photo px (pixel-edge convention)."
    )
    pallu_side: PalluSide = Field(description="Side of the photo the pallu end faces.")
    rotation_quarter_turns: int = Field(description="Clockwise quarter turns of the cloth.")
    background: Background
    coverage: float = Field(description="Fraction of the frame covered by the cloth.")
    jpeg_quality: int
    cloth: ClothTruth
    mask: np.ndarray = Field(exclude=True, description="bool HxW, True on the cloth.")
    illumination: np.ndarray = Field(
        exclude=True, description="float32 HxW multiplicative light field applied to the photo."
    )
    creases: int = Field(0, description="Fold creases pressed across the cloth's width.")


# ----------------------------------------------------------------------------- backgrounds
def _smooth_noise(rng: np.random.Generator, w: int, h: int, cells: int) -> np.ndarray:
    """Smooth random field in about [-1, 1] (float32 HxW), ``cells`` features on the long side."""
    cw = max(2, cells)
    ch = max(2, round(cells * h / max(w, 1)))
    small = rng.standard_normal((ch, cw), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _bg_wood(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    base = np.array([rng.uniform(110, 175), rng.uniform(70, 115), rng.uniform(35, 70)], np.float32)
    plank = max(40, round(h * rng.uniform(0.12, 0.22)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = _smooth_noise(rng, w, h, 6) * 6.0
    grain = np.sin((yy + warp + 0.02 * xx) * (2 * np.pi / rng.uniform(5.0, 11.0)))
    plank_idx = (yy // plank).astype(np.int32)
    tone = rng.uniform(0.82, 1.12, size=int(plank_idx.max()) + 1).astype(np.float32)[plank_idx]
    shade = tone * (1.0 + 0.08 * grain + 0.05 * _smooth_noise(rng, w, h, 30))
    img = base[None, None, :] * shade[..., None]
    seam = (yy % plank) < 2
    img[seam] *= 0.55
    return img


def _bg_tiles(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    palettes = [(205, 195, 175), (170, 170, 172), (180, 105, 75), (225, 222, 215)]
    base = np.array(palettes[int(rng.integers(len(palettes)))], np.float32)
    tile = max(30, round(min(w, h) * rng.uniform(0.15, 0.3)))
    yy, xx = np.mgrid[0:h, 0:w]
    ti, tj = yy // tile, xx // tile
    jitter = rng.uniform(0.93, 1.06, size=(int(ti.max()) + 1, int(tj.max()) + 1)).astype(np.float32)
    img = base[None, None, :] * jitter[ti, tj][..., None]
    img *= (1.0 + 0.04 * _smooth_noise(rng, w, h, 40))[..., None]
    grout = ((yy % tile) < 3) | ((xx % tile) < 3)
    img[grout] = base * 0.62
    return img


def _bg_studio(
    rng: np.random.Generator, w: int, h: int, color: np.ndarray | None = None
) -> np.ndarray:
    if color is None:
        grey = rng.uniform(150, 240)
        tint = rng.uniform(-12, 12, size=3)
        color = np.clip(grey + tint, 0, 255).astype(np.float32)
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    sweep = 1.06 - 0.16 * yy**1.5  # light from above, falling off to the floor
    img = color[None, None, :] * sweep[..., None] * np.ones((1, w, 1), np.float32)
    img *= (1.0 + 0.015 * _smooth_noise(rng, w, h, 8))[..., None]
    return img


def _bg_fabric(
    rng: np.random.Generator, w: int, h: int, color: np.ndarray | None = None
) -> np.ndarray:
    if color is None:
        color = np.array(rng.uniform(60, 220, size=3), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3.0, 6.0)
    weave = np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period)
    creases = _smooth_noise(rng, w, h, 7)
    shade = 1.0 + 0.05 * weave + 0.07 * creases
    return color[None, None, :] * shade[..., None]


def _background(
    rng: np.random.Generator, kind: Background, w: int, h: int, cloth_mean: np.ndarray
) -> np.ndarray:
    if kind == "wood":
        return _bg_wood(rng, w, h)
    if kind == "tiles":
        return _bg_tiles(rng, w, h)
    if kind == "studio":
        return _bg_studio(rng, w, h)
    if kind == "fabric":
        return _bg_fabric(rng, w, h)
    near = np.clip(cloth_mean + rng.uniform(-14, 14, size=3), 0, 255).astype(np.float32)
    return _bg_studio(rng, w, h, near) if rng.uniform() < 0.5 else _bg_fabric(rng, w, h, near)


# ----------------------------------------------------------------------------- geometry
def _polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _layout(
    rng: np.random.Generator,
    frame: tuple[int, int],
    cloth_aspect: float,
    quarter: int,
    level: _Level,
    coverage: float | None = None,
) -> np.ndarray | None:
    """Frame-space quad (4x2, clockwise from the frame-TL-most corner) or None if it failed."""
    fw, fh = frame
    margin = MARGIN_FRAC * min(fw, fh)
    avail_w, avail_h = fw - 2 * margin, fh - 2 * margin
    area = fw * fh
    long_avail, short_avail = (avail_w, avail_h) if quarter % 2 == 0 else (avail_h, avail_w)
    cov = rng.uniform(*TARGET_COVERAGE) if coverage is None else coverage
    # Largest coverage that still fits with the minimum aspect.
    cov = min(
        cov, long_avail**2 / (MIN_PHOTO_ASPECT * area) * 0.97, long_avail * short_avail / area * 0.9
    )
    ratio = min(cloth_aspect, long_avail**2 / (cov * area))
    ratio = max(ratio, MIN_PHOTO_ASPECT)
    long_len = np.sqrt(cov * area * ratio)
    short_len = long_len / ratio
    if short_len > short_avail:
        short_len = short_avail
    qw, qh = (long_len, short_len) if quarter % 2 == 0 else (short_len, long_len)
    rect = np.array([(-qw / 2, -qh / 2), (qw / 2, -qh / 2), (qw / 2, qh / 2), (-qw / 2, qh / 2)])
    jitter = rng.uniform(-1, 1, size=(4, 2)) * level.corner_jitter * min(qw, qh)
    theta = np.radians(rng.uniform(-level.max_tilt_deg, level.max_tilt_deg))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    quad = (rect + jitter) @ rot.T
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    span = hi - lo
    room = np.array([fw - 2 * margin, fh - 2 * margin]) - span
    if np.any(room < 0):
        scale = float(np.min(np.array([fw - 2 * margin, fh - 2 * margin]) / span))
        quad *= scale
        lo, hi = quad.min(axis=0), quad.max(axis=0)
        room = np.maximum(np.array([fw - 2 * margin, fh - 2 * margin]) - (hi - lo), 0)
    offset = np.array([margin, margin]) - lo + rng.uniform(0, 1, size=2) * room
    quad = quad + offset
    coverage = _polygon_area(quad) / area
    if not COVERAGE_RANGE[0] + 0.01 <= coverage <= COVERAGE_RANGE[1] - 0.01:
        return None
    return quad


def _pallu_side(corners: np.ndarray) -> PalluSide:
    """Side of the photo the canonical right edge (TR-BR) faces."""
    d = (corners[1] + corners[2]) / 2 - corners.mean(axis=0)
    if abs(d[0]) >= abs(d[1]):
        return "right" if d[0] > 0 else "left"
    return "bottom" if d[1] > 0 else "top"


def _illumination(rng: np.random.Generator, w: int, h: int, level: _Level) -> np.ndarray:
    """Smooth light field (float32 HxW) spanning [lo, hi]: a tilted ramp plus a soft hot spot."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xn, yn = xx / max(w - 1, 1), yy / max(h - 1, 1)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(ang) * xn + np.sin(ang) * yn
    cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.35, 0.8)
    spot = np.exp(-((xn - cx) ** 2 + (yn - cy) ** 2) / (2 * r * r))
    field = 0.6 * ramp + 0.8 * spot
    field = (field - field.min()) / max(float(field.max() - field.min()), 1e-6)
    lo, hi = rng.uniform(*level.light_lo), rng.uniform(*level.light_hi)
    return (lo + (hi - lo) * field).astype(np.float32)


def _fold_shading(rng: np.random.Generator, w: int, h: int, creases: int) -> np.ndarray:
    """Multiplicative shading (float32 hxw, cloth space) of ``creases`` pressed folds across the
    cloth's width and soft wrinkles: each crease is a derivative-of-Gaussian ridge (one flank
    catches the light, the other falls into shadow), so the cloth's colour between creases is
    untouched and the stages must not mistake a crease for a border or a pallu edge."""
    xx = np.arange(w, dtype=np.float32)
    profile = np.zeros(w, np.float32)
    # Folds sit near even fractions of the length, as a saree folded for storage would be.
    for k in range(creases):
        centre = w * (k + 1) / (creases + 1) + rng.uniform(-0.04, 0.04) * w
        sigma = w * rng.uniform(*CREASE_WIDTH_FRAC)
        depth = rng.uniform(*CREASE_DEPTH) * rng.choice([-1.0, 1.0])
        d = (xx - centre) / sigma
        profile += np.float32(depth * 1.6487) * d * np.exp(-0.5 * d * d)  # peak = depth
    tilt = rng.uniform(-0.02, 0.02) * w  # creases are pressed by hand, not ruled
    yy = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    map_x = (xx[None, :] + tilt * yy).astype(np.float32)
    shading = np.interp(map_x.ravel(), xx, profile).reshape(h, w).astype(np.float32)
    shading += np.float32(WRINKLE_DEPTH) * _smooth_noise(rng, w, h, 9)
    return 1.0 + shading


def _cv_homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Homography in OpenCV's pixel-centre convention from pixel-edge corner coordinates."""
    return cv2.getPerspectiveTransform(
        (src - 0.5).astype(np.float32), (dst - 0.5).astype(np.float32)
    )


def make_photo(
    cloth: np.ndarray,
    truth: ClothTruth,
    seed: int,
    *,
    size: tuple[int, int] = (1600, 1200),
    difficulty: str = "normal",
    rotation: int | None = None,
    background: Background | None = None,
    jpeg_quality: int | None = None,
    coverage: float | None = None,
) -> tuple[np.ndarray, PhotoTruth]:
    """A product photo (RGB uint8, ``size`` = (w, h)) of ``cloth`` and its ground truth.

    ``difficulty`` is ``easy`` (studio/wood, upright or upside down, little tilt or light
    variation), ``normal`` or ``hard`` (more tilt, noise, and backgrounds close to the cloth's
    colour). ``rotation`` (clockwise quarter turns), ``background``, ``jpeg_quality`` and the
    target ``coverage`` override the random draws (the demo sample uses them). ``pallu_side``
    is where the cloth's canonical right end faces, also when the cloth has no pallu.
    """
    if difficulty not in LEVELS:
        raise ValueError(f"difficulty must be one of {sorted(LEVELS)}, not {difficulty!r}")
    level = LEVELS[difficulty]
    rng = np.random.default_rng([seed, 3])
    fw, fh = int(size[0]), int(size[1])
    ch, cw = cloth.shape[:2]
    quarter = int(rotation if rotation is not None else rng.choice(level.rotations)) % 4
    if background is None:
        background = (
            "similar"
            if rng.uniform() < level.p_similar
            else level.backgrounds[int(rng.integers(len(level.backgrounds)))]
        )
    quality = int(
        jpeg_quality
        if jpeg_quality is not None
        else rng.integers(*JPEG_QUALITY_RANGE, endpoint=True)
    )

    quad = None
    for _ in range(MAX_LAYOUT_TRIES):
        quad = _layout(rng, (fw, fh), cw / ch, quarter, level, coverage)
        if quad is not None:
            break
    if quad is None:
        raise ValueError(f"could not lay out a cloth of {cw}x{ch} in a {fw}x{fh} photo")
    # Canonical corner i lands on frame-quad corner (i + quarter) % 4 (clockwise turn).
    corners = np.array([quad[(i + quarter) % 4] for i in range(4)], np.float64)

    # Pre-scale the cloth to about its on-photo size so the warp does not alias the weave.
    long_px = (
        np.linalg.norm(corners[1] - corners[0]) + np.linalg.norm(corners[2] - corners[3])
    ) / 2
    short_px = (
        np.linalg.norm(corners[3] - corners[0]) + np.linalg.norm(corners[2] - corners[1])
    ) / 2
    sw, sh = max(2, round(long_px)), max(2, round(short_px))
    interp = cv2.INTER_AREA if sw < cw else cv2.INTER_LINEAR
    scaled = cv2.resize(cloth, (sw, sh), interpolation=interp).astype(np.float32)
    # A stream of its own, so photos without creases are what they were before creases existed.
    fold_rng = np.random.default_rng([seed, 4])
    creases = int(fold_rng.integers(level.creases[0], level.creases[1], endpoint=True))
    if creases:
        scaled *= _fold_shading(fold_rng, sw, sh, creases)[..., None]
    src = np.array([(0, 0), (sw, 0), (sw, sh), (0, sh)], np.float64)
    hmat = _cv_homography(src, corners)
    warped = cv2.warpPerspective(
        scaled,
        hmat,
        (fw, fh),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )
    alpha = cv2.warpPerspective(
        np.ones((sh, sw), np.float32),
        hmat,
        (fw, fh),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )

    cloth_mean = cloth.reshape(-1, 3).mean(axis=0)
    bg = _background(rng, background, fw, fh, cloth_mean).astype(np.float32)
    # Soft drop shadow: the cloth's silhouette, blurred and offset, darkening the backdrop.
    diag = float(np.hypot(fw, fh))
    blur = diag * rng.uniform(0.006, 0.015)
    shift = rng.uniform(0.003, 0.012, size=2) * diag * rng.choice([-1, 1], size=2)
    shadow = cv2.GaussianBlur(alpha, (0, 0), blur)
    shadow = cv2.warpAffine(
        shadow,
        np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32),
        (fw, fh),
        borderMode=cv2.BORDER_CONSTANT,
    )
    bg *= (1.0 - rng.uniform(0.25, 0.45) * shadow)[..., None]

    a3 = alpha[..., None]
    img = bg * (1.0 - a3) + warped * a3
    light = _illumination(rng, fw, fh, level)
    img *= light[..., None]
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(
        rng.uniform(*level.noise_sigma)
    )
    img8 = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(img8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    photo = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    mask = alpha >= 0.5
    return photo, PhotoTruth(
        size=(fw, fh),
        corners=[(float(x), float(y)) for x, y in corners],
        pallu_side=_pallu_side(corners),
        rotation_quarter_turns=quarter,
        background=background,
        coverage=float(mask.mean()),
        jpeg_quality=quality,
        cloth=truth,
        mask=mask,
        illumination=light,
        creases=creases,
    )


def make_large_photo(
    seed: int, megapixels: float = 12.0, *, difficulty: str = "normal"
) -> tuple[np.ndarray, PhotoTruth]:
    """A 4:3 photo of about ``megapixels`` MP with a cloth rendered at matching detail.

    For benchmarks of the prepare stages on phone-camera-sized uploads.
    """
    fw = round(np.sqrt(megapixels * 1e6 * 4 / 3))
    fh = round(fw * 3 / 4)
    cloth, truth = make_cloth(seed, size=(round(fw * 0.9), round(fh * 0.3)))
    return make_photo(cloth, truth, seed, size=(fw, fh), difficulty=difficulty)
