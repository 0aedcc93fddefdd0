"""The embedded compose adapter: renders a pose's catalogue image from S_flat and its placement map.

No model and no guessing: every cloth pixel is ``round(cv2.remap(s_flat, map_x, map_y,
INTER_LINEAR) * shading)``, exactly what validation expects (:func:`sareeflow.placement.
expected_region`). Around the cloth it draws a believable studio scene — a light neutral
background with a soft gradient, floor and shadows, and a faceless grey mannequin drawn
procedurally with anti-aliased edges. Anti-aliasing of the cloth's own outline is done only on
pixels *outside* the region masks, so the pixels validation checks are untouched.

The mannequin and backdrop come from the catalogue entry named by ``placement_map.pose``
(the bundled catalogue unless another is passed to the adapter: pass the one the map was built
from). ``strict_instructions`` and ``forbidden_changes`` need no action here, the renderer
being exact by construction; ``info`` records them as acknowledged.

Deterministic: the seed only nudges the background tone by at most ``BACKGROUND_JITTER`` grey
levels, which no validation measure looks at.
"""

from __future__ import annotations

import cv2
import numpy as np

from sareeflow.errors import AdapterUnavailable, InvalidInput, SareeflowError
from sareeflow.models import AdapterResult, PlacementMap
from sareeflow.placement import expected_region, shape_coverage
from sareeflow.poses import Catalogue, FigureShape, PoseSpec, load_catalogue

WALL_TOP_RGB = (240, 238, 235)
WALL_BOTTOM_RGB = (226, 223, 219)
FLOOR_NEAR_RGB = (222, 219, 214)
FLOOR_FAR_RGB = (208, 204, 198)
SURFACE_RGB = (233, 230, 225)
"""Studio colours: warm light greys that flatter any cloth colour without tinting it."""
SURFACE_VIGNETTE = (0.07, (0.5, 0.45))
"""Light fall-off of the flat-shot surface towards its edges (fraction at a corner-ish distance)
and the brightest point (fractions of width and height): a softbox overhead."""
MANNEQUIN_RGB = (201, 199, 196)
"""Base grey of the mannequin (before its tone and rounded-form shading)."""
BACKGROUND_JITTER = 1.5
"""Largest seed-driven change of the background tone (grey levels)."""
FLOOR_BLEND = 0.012
"""Half height of the soft wall-to-floor transition (canvas-height units)."""
CONTACT_SHADOW = (0.006, 0.30)
"""Cloth's contact shadow on what is behind it: blur sigma (canvas-height units), strength."""
DROP_SHADOW = {"studio": (0.018, 0.014, 0.010, 0.16), "surface": (0.010, 0.008, 0.012, 0.32)}
"""Soft cast shadow of cloth and figure: blur sigma, x and y offset (canvas-height units),
strength — fainter on a studio wall, stronger on a table the cloth lies on."""
FLOOR_SHADOW = (0.035, 0.40)
"""Pool of shadow under a standing figure: height (canvas-height units), strength."""
FLOOR_CONTACT = (0.03, 0.03, 0.012)
"""What counts as touching the floor (canvas-height units above the floor line), how far the
pool reaches beyond the cloth on each side, and the pool's blur sigma."""
FORM_RIM_SHADE = 0.70
"""Brightness of a mannequin shape at its outline relative to its centre: a rounded form."""
FORM_RIM_DEPTH = 0.8
"""Fraction of a shape's half thickness over which it turns from rim to full light."""
KEY_LIGHT_FALLOFF = (0.07, 0.03)
"""Light falls off across a shape by these fractions left→right and top→bottom (key light at
the upper left)."""
EDGE_ALPHA = (1.2, 0.6)
"""Cloth outline anti-aliasing: gain on the 3x3 coverage, and the most a pixel outside the
cloth takes of its colour."""
SHADOW_SCALE = 4
"""Shadows are blurred at 1/SHADOW_SCALE resolution: they are soft, and it is ~10x faster."""


class LocalComposeAdapter:
    """``run(s_flat, placement_map, seed, strict_instructions, forbidden_changes)`` → pose image."""

    name = "local_compose"

    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self._catalogue = catalogue

    def run(
        self,
        image: np.ndarray,
        placement_map: PlacementMap | None,
        seed: int,
        strict_instructions: list[str],
        forbidden_changes: list[str],
    ) -> AdapterResult:
        if placement_map is None:
            raise InvalidInput("The compose adapter needs a placement map.")
        _check_flat(image, placement_map)
        catalogue = self._catalogue or load_catalogue()
        if placement_map.pose not in catalogue.poses:
            raise InvalidInput(f"Unknown pose {placement_map.pose!r}.")
        pose = catalogue.poses[placement_map.pose]
        try:
            canvas = render(image, placement_map, pose, seed=seed)
        except SareeflowError:
            raise
        except (cv2.error, ValueError, MemoryError) as exc:
            raise AdapterUnavailable("The local renderer failed.", detail=repr(exc)) from exc
        info = {
            "adapter": self.name,
            "pose": pose.id,
            "label": pose.label,
            "seed": int(seed),
            "canvas_size": list(placement_map.canvas_size),
            "regions": [region.name for region in placement_map.regions],
            "method": "exact remap of S_flat through the placement map, times its shading",
            # the renderer is exact by construction, so every constraint is already met
            "acknowledged_instructions": list(strict_instructions),
            "acknowledged_forbidden_changes": list(forbidden_changes),
        }
        return AdapterResult(image=canvas, info=info)

    def close(self) -> None:
        """Nothing to release."""


def _check_flat(image: np.ndarray, placement: PlacementMap) -> None:
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
    ):
        raise InvalidInput("The compose adapter needs S_flat as an RGB uint8 image.")
    height, width = image.shape[:2]
    if (width, height) != tuple(placement.flat_size):
        raise InvalidInput(
            f"S_flat is {width}x{height} but the placement map was built for "
            f"{placement.flat_size[0]}x{placement.flat_size[1]}."
        )


# ---------------------------------------------------------------- rendering
def render(s_flat: np.ndarray, placement: PlacementMap, pose: PoseSpec, *, seed: int) -> np.ndarray:
    """The pose image (RGB uint8): studio, mannequin, and the exact cloth regions."""
    width, height = placement.canvas_size
    rng = np.random.default_rng(seed)
    jitter = float(rng.uniform(-BACKGROUND_JITTER, BACKGROUND_JITTER))
    canvas = _background(pose, (width, height), jitter)

    cloth = np.zeros((height, width, 3), np.uint8)
    cloth_mask = np.zeros((height, width), bool)
    for region in placement.regions:
        rgb, mask = expected_region(s_flat, placement, region.name)
        x, y, w, h = region.bbox
        np.copyto(cloth[y : y + h, x : x + w], rgb, where=mask[..., None])
        cloth_mask[y : y + h, x : x + w] |= mask

    shapes = sorted(enumerate(pose.shapes), key=lambda item: (item[1].z, item[0]))
    coverages = [(shape, *shape_coverage(shape, (width, height))) for _, shape in shapes]
    silhouette = cloth_mask.astype(np.float32)
    for _, (x, y, w, h), coverage in coverages:
        np.maximum(silhouette[y : y + h, x : x + w], coverage, out=silhouette[y : y + h, x : x + w])
    _cast_shadows(canvas, pose, silhouette)

    for shape, bbox, coverage in coverages:
        _draw_shape(canvas, shape, bbox, coverage)

    _contact_shadow(canvas, cloth_mask)
    _soft_edges(canvas, cloth, cloth_mask)
    canvas += 0.5
    np.clip(canvas, 0, 255, out=canvas)
    out = canvas.astype(np.uint8)
    np.copyto(out, cloth, where=cloth_mask[..., None])
    return out


def _background(pose: PoseSpec, size: tuple[int, int], jitter: float) -> np.ndarray:
    """A soft studio backdrop (wall gradient and floor) or a plain surface for flat shots."""
    width, height = size
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height
    canvas = np.empty((height, width, 3), np.float32)
    if pose.background == "surface" or pose.floor_y is None:
        # gentle vignette: light falls off towards the edges like under a softbox overhead
        xs = (np.arange(width, dtype=np.float32) + 0.5) / width
        depth, (cx, cy) = SURFACE_VIGNETTE
        fall_y = 1.0 - 2 * depth * (ys - cy) ** 2
        fall_x = 1.0 - 2 * depth * (xs - cx) ** 2
        column = np.asarray(SURFACE_RGB, np.float32)[None, :] * fall_y[:, None] + jitter
        canvas[:] = column[:, None, :]
        canvas *= fall_x[None, :, None]
        return canvas
    wall = _lerp_rows(WALL_TOP_RGB, WALL_BOTTOM_RGB, np.clip(ys / pose.floor_y, 0, 1))
    beyond = np.clip((ys - pose.floor_y) / max(1 - pose.floor_y, 1e-6), 0, 1)
    floor = _lerp_rows(FLOOR_FAR_RGB, FLOOR_NEAR_RGB, beyond)
    blend = np.clip((ys - pose.floor_y + FLOOR_BLEND) / (2 * FLOOR_BLEND), 0, 1)
    blend = blend * blend * (3 - 2 * blend)
    column = wall * (1 - blend[:, None]) + floor * blend[:, None] + jitter
    canvas[:] = column[:, None, :]
    return canvas


def _lerp_rows(
    top: tuple[int, int, int], bottom: tuple[int, int, int], t: np.ndarray
) -> np.ndarray:
    a, b = np.asarray(top, np.float32), np.asarray(bottom, np.float32)
    return a[None, :] + (b - a)[None, :] * t[:, None]


def _blur_small(mask: np.ndarray, sigma_px: float, scale: int = SHADOW_SCALE) -> np.ndarray:
    """Gaussian blur computed at reduced resolution (shadows are soft; exactness is not needed)."""
    height, width = mask.shape
    small = cv2.resize(
        mask, (max(width // scale, 1), max(height // scale, 1)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), max(sigma_px / scale, 0.5))
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _cast_shadows(canvas: np.ndarray, pose: PoseSpec, silhouette: np.ndarray) -> None:
    """Darken the backdrop with the soft shadow of everything standing or lying on it."""
    height = canvas.shape[0]
    sigma, dx, dy, strength = DROP_SHADOW[pose.background]
    shifted = np.zeros_like(silhouette)
    ox, oy = int(round(dx * height)), int(round(dy * height))
    shifted[oy:, ox:] = silhouette[: silhouette.shape[0] - oy, : silhouette.shape[1] - ox]
    shade = strength * _blur_small(shifted, sigma * height)
    if pose.background == "studio" and pose.floor_y is not None and not pose.full_bleed:
        shade = np.maximum(shade, _floor_shadow(silhouette, pose.floor_y, height))
    canvas *= (1.0 - shade)[..., None]


def _floor_shadow(silhouette: np.ndarray, floor_y: float, height: int) -> np.ndarray:
    """An elliptical pool of shadow under whatever touches the floor."""
    floor_px = int(round(floor_y * height))
    touch, reach, blur = FLOOR_CONTACT
    band = silhouette[max(floor_px - int(touch * height), 0) : floor_px + 1]
    cols = np.nonzero(band.max(axis=0) > 0.5)[0] if band.size else np.array([], int)
    pool = np.zeros_like(silhouette)
    if cols.size:
        centre = (int((cols[0] + cols[-1]) / 2), floor_px)
        axes = (int((cols[-1] - cols[0]) / 2 + reach * height), int(FLOOR_SHADOW[0] * height / 2))
        cv2.ellipse(pool, centre, axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    return FLOOR_SHADOW[1] * _blur_small(pool, blur * height)


def _draw_shape(
    canvas: np.ndarray, shape: FigureShape, bbox: tuple[int, int, int, int], coverage: np.ndarray
) -> None:
    """A mannequin shape in soft grey, shaded as a rounded form lit from the upper left."""
    x, y, w, h = bbox
    if w == 0 or h == 0:
        return
    inside = (coverage >= 0.5).astype(np.uint8)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    radius = max(float(depth.max()), 1.0)
    rounded = np.sqrt(np.clip(depth / (FORM_RIM_DEPTH * radius), 0.0, 1.0))
    cols = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    rows = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    light = 1.0 - KEY_LIGHT_FALLOFF[0] * cols - KEY_LIGHT_FALLOFF[1] * rows
    shade = (FORM_RIM_SHADE + (1.0 - FORM_RIM_SHADE) * rounded) * light * shape.tone
    colour = np.asarray(MANNEQUIN_RGB, np.float32)[None, None, :] * shade[..., None]
    alpha = coverage[..., None]
    region = canvas[y : y + h, x : x + w]
    region *= 1.0 - alpha
    region += colour * alpha


def _contact_shadow(canvas: np.ndarray, cloth_mask: np.ndarray) -> None:
    """Cloth shades what is just behind it (the figure, the backdrop) outside its own pixels."""
    height = canvas.shape[0]
    sigma, strength = CONTACT_SHADOW
    shade = _blur_small(cloth_mask.astype(np.float32), sigma * height, scale=2)
    shade *= strength
    shade[cloth_mask] = 0.0
    np.subtract(1.0, shade, out=shade)
    canvas *= shade[..., None]


def _soft_edges(canvas: np.ndarray, cloth: np.ndarray, cloth_mask: np.ndarray) -> None:
    """Anti-alias the cloth's outline: pixels just outside it take a little of its colour
    (normalised convolution of the cloth over a 3x3 neighbourhood)."""
    mask8 = cloth_mask.astype(np.uint8)
    ring = (cv2.dilate(mask8, np.ones((3, 3), np.uint8)) > 0) & ~cloth_mask
    rows, cols = np.nonzero(ring)
    if rows.size == 0:
        return
    height, width = cloth_mask.shape
    kernel = np.array([0.25, 0.5, 0.25], np.float32)
    coverage = np.zeros(rows.size, np.float32)
    spread = np.zeros((rows.size, 3), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            r = np.clip(rows + dy, 0, height - 1)
            c = np.clip(cols + dx, 0, width - 1)
            weight = kernel[dy + 1] * kernel[dx + 1] * cloth_mask[r, c]
            coverage += weight
            spread += weight[:, None] * cloth[r, c]
    gain, most = EDGE_ALPHA
    alpha = np.clip(coverage * gain, 0.0, most)[:, None]
    colour = spread / np.maximum(coverage, 1e-6)[:, None]
    canvas[rows, cols] = canvas[rows, cols] * (1.0 - alpha) + colour * alpha
