"""A hand-built pose with known ground truth, shared by the validation and defect tests.

A synthetic S_flat (1200x400: borders top and bottom, patterned body, pallu on the right) and a
600x900 pose that uses it: a body region mapped 1:1 (rotated), a pallu region with a mild
stretch, a straight waist border and a curved hem border, each with cosine fold shading. The
faithful render is ``round(remap(s_flat) * shading)`` inside the region masks, exactly what the
local compose adapter produces.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from scipy.spatial import cKDTree

from sareeflow.models import PlacementMap, PlacementRegion

FLAT_W, FLAT_H = 1200, 400
CANVAS_W, CANVAS_H = 600, 900
BORDER_H = 48  # px, height of each border part in S_flat
PALLU_X = 900  # px, where the pallu starts in S_flat
BACKGROUND = (236, 232, 226)


def make_s_flat() -> np.ndarray:
    """Patterned synthetic saree: teal body with dots and lattice, maroon borders with a gold
    zigzag, magenta pallu with diagonal stripes and large diamonds."""
    yy, xx = np.mgrid[0:FLAT_H, 0:FLAT_W].astype(np.float32)
    img = np.zeros((FLAT_H, FLAT_W, 3), np.float32)
    # body
    img[:] = (24, 120, 118)
    lattice = (np.abs(((xx + yy) % 28) - 14) < 1.6) | (np.abs(((xx - yy) % 28) - 14) < 1.6)
    img[lattice] = (205, 180, 90)
    dots = ((xx % 28 - 14) ** 2 + (yy % 28 - 14) ** 2) < 16
    img[dots] = (230, 90, 60)
    # pallu
    pallu = xx >= PALLU_X
    stripes = ((xx + 2 * yy) % 40) < 14
    img[pallu] = (170, 30, 110)
    img[pallu & stripes] = (240, 190, 60)
    diamonds = (np.abs((xx % 60) - 30) + np.abs((yy % 60) - 30)) < 12
    img[pallu & diamonds] = (40, 40, 120)
    # borders
    for top in (True, False):
        rows = yy < BORDER_H if top else yy >= FLAT_H - BORDER_H
        local = yy if top else (FLAT_H - 1 - yy)
        img[rows] = (110, 20, 30)
        zig = np.abs(local - (24 + 12 * np.abs(((xx % 32) / 16.0) - 1) - 6)) < 3
        img[rows & zig] = (235, 200, 80)
        rule = (np.abs(local - 6) < 2) | (np.abs(local - 41) < 2)
        img[rows & rule] = (250, 230, 170)
    # a slight blur so edges are cloth-like, not aliased
    img = cv2.GaussianBlur(img, (0, 0), 0.7)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _body_region() -> tuple[PlacementRegion, dict[str, np.ndarray]]:
    x, y, w, h = 40, 70, 280, 560
    jj, ii = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = 80.0 + jj  # body rotated: output rows run along the saree length
    map_y = 60.0 + ii
    mask = ii >= 24.0 * (1.0 - jj / h)  # slanted left edge
    map_x[~mask] = -1
    map_y[~mask] = -1
    shading = (0.84 + 0.16 * np.cos(2 * np.pi * (ii + x) / 46.0)).astype(np.float32)
    region = PlacementRegion(name="pleats", kind="body", part="body", bbox=(x, y, w, h))
    return region, {"map_x": map_x, "map_y": map_y, "shading": shading}


def _pallu_region() -> tuple[PlacementRegion, dict[str, np.ndarray]]:
    x, y, w, h = 340, 70, 220, 520
    jj, ii = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = 920.0 + ii
    map_y = 60.0 + jj * 0.55
    shading = (0.95 + 0.1 * np.cos(2 * np.pi * (ii + jj) / 80.0)).astype(np.float32)
    region = PlacementRegion(name="pallu_drape", kind="pallu", part="pallu", bbox=(x, y, w, h))
    return region, {"map_x": map_x, "map_y": map_y.astype(np.float32), "shading": shading}


def _band_region(
    name: str,
    part: str,
    path_fn,
    x_range: tuple[float, float],
    width: float,
    flat_origin: tuple[float, float],
    flip: bool,
) -> tuple[PlacementRegion, dict[str, np.ndarray]]:
    """A border band of ``width`` px centred on ``y = path_fn(x)``, sampling a border part.

    Each output pixel's nearest point on the path gives its arc length ``u`` (→ S_flat x) and
    signed distance ``v`` (→ S_flat y around the border's centre row).
    """
    xs = np.arange(x_range[0], x_range[1] + 0.25, 0.25, dtype=np.float64)
    pts = np.stack([xs, path_fn(xs)], axis=1)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    tangent = np.gradient(pts, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    half = width / 2.0
    x0 = int(np.floor(pts[:, 0].min() - half - 2))
    y0 = int(np.floor(pts[:, 1].min() - half - 2))
    x1 = int(np.ceil(pts[:, 0].max() + half + 2))
    y1 = int(np.ceil(pts[:, 1].max() + half + 2))
    w, h = x1 - x0, y1 - y0
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    query = np.stack([xx.ravel(), yy.ravel()], axis=1)
    dist, idx = cKDTree(pts).query(query)
    offs = query - pts[idx]
    v = np.einsum("ij,ij->i", offs, normal[idx])
    u = arc[idx]
    inside = (np.abs(v) <= half) & (idx > 0) & (idx < len(pts) - 1)
    fx, fy = flat_origin
    sy = fy - v if flip else fy + v
    map_x = np.where(inside, fx + u, -1).reshape(h, w).astype(np.float32)
    map_y = np.where(inside, sy, -1).reshape(h, w).astype(np.float32)
    shading = (0.9 + 0.1 * np.cos(2 * np.pi * xx / 60.0)).astype(np.float32)
    stride = 32  # samples of 0.25 px: one path vertex every 8 px
    keep = list(range(0, len(pts), stride))
    if keep[-1] != len(pts) - 1:
        keep.append(len(pts) - 1)
    path = [(float(pts[k, 0]), float(pts[k, 1])) for k in keep]
    region = PlacementRegion(
        name=name,
        kind="border",
        part=part,
        bbox=(x0, y0, w, h),
        border_path=path,
        border_width_px=width,
    )
    return region, {"map_x": map_x, "map_y": map_y, "shading": shading}


@lru_cache(maxsize=1)
def _cached_placement() -> bytes:
    regions: list[PlacementRegion] = []
    arrays: dict[str, dict[str, np.ndarray]] = {}
    centre_top = BORDER_H / 2.0
    centre_bottom = FLAT_H - BORDER_H / 2.0
    parts = [
        _band_region(
            "waist_border",
            "border_top",
            lambda x: np.full_like(x, 42.0),
            (40.0, 560.0),
            44.0,
            (200.0, centre_top),
            flip=False,
        ),
        _body_region(),
        _pallu_region(),
        _band_region(
            "hem_border",
            "border_bottom",
            lambda x: 700.0 + 18.0 * np.sin(2 * np.pi * (x - 40.0) / 520.0),
            (40.0, 560.0),
            44.0,
            (100.0, centre_bottom),
            flip=False,
        ),
    ]
    for region, arrs in parts:
        regions.append(region)
        arrays[region.name] = arrs
    placement = PlacementMap(
        pose="t1",
        canvas_size=(CANVAS_W, CANVAS_H),
        flat_size=(FLAT_W, FLAT_H),
        regions=regions,
        arrays=arrays,
    )
    return placement.to_npz_bytes()


def make_placement() -> PlacementMap:
    """A fresh copy of the fixture's placement map (callers may mutate it)."""
    return PlacementMap.from_npz_bytes(_cached_placement())


def render(s_flat: np.ndarray, placement: PlacementMap) -> np.ndarray:
    """The faithful output: ``round(remap(s_flat) * shading)`` in each region's mask."""
    cw, ch = placement.canvas_size
    canvas = np.empty((ch, cw, 3), np.uint8)
    canvas[:] = BACKGROUND
    for region in placement.regions:
        arrs = placement.arrays[region.name]
        x, y, w, h = region.bbox
        flat = cv2.remap(
            s_flat,
            arrs["map_x"],
            arrs["map_y"],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        shaded = flat.astype(np.float32) * arrs["shading"][..., None]
        shaded = np.clip(np.rint(shaded), 0, 255).astype(np.uint8)
        mask = arrs["map_x"] >= 0
        view = canvas[y : y + h, x : x + w]
        view[mask] = shaded[mask]
    return canvas


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate by whole pixels, replicating the edge."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = image.shape[:2]
    return cv2.warpAffine(
        image, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
    )
