"""Placement maps: disjoint regions inside the canvas, sampling the right part of S_flat."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sareeflow.models import PartInfo, PartsInfo, PlacementMap
from sareeflow.placement import MIN_CLOTH_SCALE, build_placement, expected_region, owner_mask
from sareeflow.poses import load_catalogue
from sareeflow.synth.cloth import make_cloth

POSES = list(load_catalogue().poses)
SMALL = 768  # geometry is resolution-independent; a smaller canvas keeps the tests fast


def parts_of(seed: int) -> PartsInfo:
    """The true parts of the generated flat saree ``seed`` (borders at top and bottom, pallu
    at the right end)."""
    _, truth = make_cloth(seed)
    return PartsInfo(
        flat_size=truth.size,
        parts={
            name: PartInfo(
                name=name,
                rect=getattr(truth, name),
                confidence=1.0,
                reason=None if getattr(truth, name) else "absent in the generator",
            )
            for name in ("body", "border_top", "border_bottom", "pallu")
        },
    )


def hand_parts(*, pallu_full_height: bool = False, absent: tuple[str, ...] = ()) -> PartsInfo:
    """A 1800x400 canonical S_flat by hand: 40 px borders, a 330 px pallu on the right."""
    w, h, border, pallu = 1800, 400, 40, 330
    rects = {
        "body": (0, border, w - pallu, h - 2 * border),
        "border_top": (0, 0, w, border),
        "border_bottom": (0, h - border, w, border),
        "pallu": (w - pallu, 0, pallu, h)
        if pallu_full_height
        else (w - pallu, border, pallu, h - 2 * border),
    }
    return PartsInfo(
        flat_size=(w, h),
        parts={
            name: PartInfo(
                name=name,
                rect=None if name in absent else rect,
                confidence=1.0,
                reason="not found" if name in absent else None,
            )
            for name, rect in rects.items()
        },
    )


@pytest.fixture(scope="module")
def maps() -> dict[str, PlacementMap]:
    parts = parts_of(0)
    catalogue = load_catalogue()
    return {pid: build_placement(catalogue.poses[pid], parts, canvas_height=SMALL) for pid in POSES}


def check_map(placement: PlacementMap, parts: PartsInfo) -> None:
    """Every invariant a placement map promises (used for several kinds of saree)."""
    width, height = placement.canvas_size
    assert height == SMALL and width == SMALL * 2 // 3
    assert placement.flat_size == parts.flat_size
    assert placement.regions, placement.pose
    coverage = np.zeros((height, width), np.int32)
    names = [region.name for region in placement.regions]
    assert len(set(names)) == len(names)
    for region in placement.regions:
        x, y, w, h = region.bbox
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= width and y + h <= height
        arrays = placement.arrays[region.name]
        assert set(arrays) == {"map_x", "map_y", "shading"}
        for arr in arrays.values():
            assert arr.shape == (h, w) and arr.dtype == np.float32
        mask = placement.mask(region.name)
        assert mask.any()
        # the bbox is tight
        assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
        coverage[y : y + h, x : x + w] += mask
        map_x, map_y = arrays["map_x"][mask], arrays["map_y"][mask]
        assert np.all(arrays["map_x"][~mask] == -1) and np.all(arrays["map_y"][~mask] == -1)
        shading = arrays["shading"][mask]
        assert np.all(np.isfinite(shading)) and shading.min() >= 0.4 and shading.max() <= 1.15
        # samples fall inside the part that fills the region (its pixel centres)
        rect = parts.rect(region.part) if region.part != "body" or parts.present("body") else None
        if parts.present(region.part):
            rx, ry, rw, rh = rect
            assert map_x.min() >= rx and map_x.max() <= rx + rw - 1, region.name
            assert map_y.min() >= ry and map_y.max() <= ry + rh - 1, region.name
        fw, fh = parts.flat_size
        assert map_x.min() >= 0 and map_x.max() <= fw - 1
        assert map_y.min() >= 0 and map_y.max() <= fh - 1
        if region.kind == "border":
            path = np.asarray(region.border_path)
            assert len(path) >= 2 and region.border_width_px > 1
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            cols = np.rint(path[:, 0]).astype(int) - x
            rows = np.rint(path[:, 1]).astype(int) - y
            assert cols.min() >= 0 and rows.min() >= 0 and cols.max() < w and rows.max() < h
            assert grown[rows, cols].mean() >= 0.98, region.name
        else:
            assert region.border_path is None and region.border_width_px is None
    assert coverage.max() <= 1, "region masks overlap"


@pytest.mark.parametrize("pose_id", POSES)
def test_every_pose_gives_a_valid_map(maps, pose_id):
    check_map(maps[pose_id], parts_of(0))


@pytest.mark.parametrize("pose_id", ["01", "02", "04", "05", "08", "12"])
def test_maps_for_a_saree_without_borders(pose_id):
    parts = parts_of(1)  # the generator's seed 1 has no borders
    assert not parts.present("border_top") and not parts.present("border_bottom")
    placement = build_placement(load_catalogue().poses[pose_id], parts, canvas_height=SMALL)
    check_map(placement, parts)
    body_x, body_y, body_w, body_h = parts.rect("body")
    for region in placement.regions:
        if region.kind == "border" and pose_id != "12":
            assert region.part == "body", "an absent border is filled from the body"
            mask = placement.mask(region.name)
            map_y = placement.arrays[region.name]["map_y"][mask]
            assert map_y.min() >= body_y and map_y.max() <= body_y + body_h - 1
    if pose_id == "12":  # the flat lay shows S_flat as it is: no border regions at all
        assert {r.kind for r in placement.regions} == {"body", "pallu"}


@pytest.mark.parametrize("pose_id", ["02", "04", "08", "09"])
def test_absent_pallu_is_filled_from_the_body(pose_id):
    parts = hand_parts(absent=("pallu",))
    placement = build_placement(load_catalogue().poses[pose_id], parts, canvas_height=SMALL)
    check_map(placement, parts)
    pallu_regions = [r for r in placement.regions if r.kind == "pallu"]
    assert pallu_regions
    bx, by, bw, bh = parts.rect("body")
    for region in pallu_regions:
        assert region.part == "body"
        mask = placement.mask(region.name)
        map_x = placement.arrays[region.name]["map_x"][mask]
        assert map_x.min() >= bx and map_x.max() <= bx + bw - 1


@pytest.mark.parametrize(
    "size, border, pallu",
    [((2048, 1700), 200, 400), ((64, 32), 3, 10), ((2048, 300), 8, 300)],
    ids=["square-with-wide-borders", "tiny", "long-with-thin-borders"],
)
@pytest.mark.parametrize("pose_id", ["01", "04", "08", "12"])
def test_unusual_flat_sarees_still_give_valid_maps(size, border, pallu, pose_id):
    w, h = size
    rects = {
        "body": (0, border, w - pallu, h - 2 * border),
        "border_top": (0, 0, w, border),
        "border_bottom": (0, h - border, w, border),
        "pallu": (w - pallu, border, pallu, h - 2 * border),
    }
    parts = PartsInfo(
        flat_size=size,
        parts={n: PartInfo(name=n, rect=r, confidence=0.5) for n, r in rects.items()},
    )
    check_map(build_placement(load_catalogue().poses[pose_id], parts, canvas_height=SMALL), parts)


def test_a_pallu_rect_spanning_the_borders_is_trimmed_to_the_body_rows():
    parts = hand_parts(pallu_full_height=True)
    placement = build_placement(load_catalogue().poses["04"], parts, canvas_height=SMALL)
    check_map(placement, parts)
    mask = placement.mask("pallu")
    map_y = placement.arrays["pallu"]["map_y"][mask]
    _, body_y, _, body_h = parts.rect("body")
    assert map_y.min() >= body_y and map_y.max() <= body_y + body_h - 1


def test_maps_are_deterministic_and_survive_npz():
    pose = load_catalogue().poses["01"]
    first = build_placement(pose, parts_of(2), canvas_height=SMALL)
    second = build_placement(pose, parts_of(2), canvas_height=SMALL)
    data = first.to_npz_bytes()
    assert data == second.to_npz_bytes()
    back = PlacementMap.from_npz_bytes(data)
    assert back.regions == first.regions
    for name, arrays in first.arrays.items():
        for key, arr in arrays.items():
            assert np.array_equal(back.arrays[name][key], arr)


def test_canvas_height_comes_from_the_caller():
    placement = build_placement(load_catalogue().poses["03"], parts_of(0), canvas_height=1536)
    assert placement.canvas_size == (1024, 1536)
    owner = owner_mask(placement)
    assert (owner >= 0).mean() > 0.85  # a close-up is (nearly) full-bleed


def _jacobian(arrays: dict[str, np.ndarray], mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per interior pixel of the region (every other row and column): determinant and largest
    singular value of the map's Jacobian (S_flat px per output px)."""
    mx, my = arrays["map_x"].astype(np.float64), arrays["map_y"].astype(np.float64)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    keep = inner[1:-1:2, 1:-1:2]
    a = ((mx[1:-1:2, 2::2] - mx[1:-1:2, :-2:2]) / 2)[keep]
    b = ((mx[2::2, 1:-1:2] - mx[:-2:2, 1:-1:2]) / 2)[keep]
    c = ((my[1:-1:2, 2::2] - my[1:-1:2, :-2:2]) / 2)[keep]
    d = ((my[2::2, 1:-1:2] - my[:-2:2, 1:-1:2]) / 2)[keep]
    det = a * d - b * c
    total = a * a + b * b + c * c + d * d
    sigma = np.sqrt((total + np.sqrt(np.maximum(total * total - 4 * det * det, 0))) / 2)
    return det, sigma


@pytest.mark.parametrize("pose_id", POSES)
def test_cloth_is_never_mirrored_folded_or_shrunk_into_aliasing(pose_id):
    """At the default canvas: the map keeps the cloth's handedness (a mirrored saree is not the
    same saree), never folds over itself, and never squeezes more than 1/MIN_CLOTH_SCALE
    S_flat px into one output px (bilinear sampling would alias)."""
    placement = build_placement(load_catalogue().poses[pose_id], parts_of(0), canvas_height=1536)
    for region in placement.regions:
        mask = placement.mask(region.name)
        if mask.sum() < 500:
            continue
        det, sigma = _jacobian(placement.arrays[region.name], mask)
        if det.size == 0:
            continue
        smooth = sigma < 4 * np.median(sigma)  # leave out seams between pleats and folds
        assert np.mean(det[smooth] > 0) > 0.99, f"{region.name} is mirrored or folded"
        assert np.percentile(sigma[smooth], 99) <= 1.05 / MIN_CLOTH_SCALE, region.name


def test_expected_region_is_the_shaded_remap():
    _, truth = make_cloth(0)
    s_flat, _ = make_cloth(0)
    placement = build_placement(load_catalogue().poses["05"], parts_of(0), canvas_height=SMALL)
    for region in placement.regions:
        rgb, mask = expected_region(s_flat, placement, region.name)
        arrays = placement.arrays[region.name]
        want = cv2.remap(s_flat, arrays["map_x"], arrays["map_y"], cv2.INTER_LINEAR)
        want = np.clip(np.rint(want * arrays["shading"][..., None].astype(np.float64)), 0, 255)
        assert np.abs(rgb[mask].astype(int) - want[mask]).max() <= 1
        assert not rgb[~mask].any()


def test_borders_keep_their_width_along_the_path():
    """The hem border of the back drape is a ribbon: constant width, centred on its path."""
    placement = build_placement(load_catalogue().poses["05"], parts_of(0), canvas_height=1536)
    region = next(r for r in placement.regions if r.name == "hem_border")
    x, y, w, h = region.bbox
    mask = placement.mask(region.name)
    path = np.asarray(region.border_path)
    _, truth = make_cloth(0)
    scale = load_catalogue().poses["05"].drop * 1536 / truth.size[1]
    assert region.border_width_px == pytest.approx(truth.border_bottom[3] * scale, rel=1e-3)
    widths = []
    for i in range(2, len(path) - 2, 3):
        tangent = path[i + 1] - path[i - 1]
        normal = np.array([tangent[1], -tangent[0]]) / np.hypot(*tangent)
        ts = np.arange(-region.border_width_px, region.border_width_px, 0.25)
        pts = path[i] + ts[:, None] * normal
        cols, rows = np.rint(pts[:, 0]).astype(int) - x, np.rint(pts[:, 1]).astype(int) - y
        ok = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        inside = np.zeros(len(ts), bool)
        inside[ok] = mask[rows[ok], cols[ok]]
        widths.append(inside.sum() * 0.25)
        centre = ts[inside].mean()
        assert abs(centre) <= 1.0
    assert np.median(widths) == pytest.approx(region.border_width_px, abs=2.0)
