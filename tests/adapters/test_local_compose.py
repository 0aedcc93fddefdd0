"""The local compose adapter: a believable catalogue image whose cloth pixels are exact."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from adapters.base import ImageAdapter
from adapters.local_compose import LocalComposeAdapter
from sareeflow.errors import InvalidInput
from sareeflow.models import PartInfo, PartsInfo, PlacementMap
from sareeflow.placement import build_placement, expected_region, owner_mask, shape_coverage
from sareeflow.poses import load_catalogue
from sareeflow.settings import Settings
from sareeflow.synth.cloth import make_cloth

CANVAS_HEIGHT = Settings().canvas_height_px


def flat_saree(seed: int) -> tuple[np.ndarray, PartsInfo]:
    """A generated canonical S_flat (borders top and bottom, pallu on the right) and its parts."""
    rgb, truth = make_cloth(seed)
    parts = PartsInfo(
        flat_size=truth.size,
        parts={
            name: PartInfo(
                name=name,
                rect=getattr(truth, name),
                confidence=1.0,
                reason=None if getattr(truth, name) else "absent",
            )
            for name in ("body", "border_top", "border_bottom", "pallu")
        },
    )
    return rgb, parts


@pytest.fixture(scope="module")
def saree() -> tuple[np.ndarray, PartsInfo]:
    return flat_saree(0)


@pytest.fixture(scope="module")
def renders(saree) -> dict[str, tuple[PlacementMap, np.ndarray]]:
    s_flat, parts = saree
    adapter = LocalComposeAdapter()
    out = {}
    for pose_id, pose in load_catalogue().poses.items():
        placement = build_placement(pose, parts, canvas_height=CANVAS_HEIGHT)
        out[pose_id] = (placement, adapter.run(s_flat, placement, 11, [], []).image)
    return out


def test_implements_the_adapter_protocol():
    adapter = LocalComposeAdapter()
    assert isinstance(adapter, ImageAdapter)
    assert adapter.name == "local_compose"
    adapter.close()


@pytest.mark.parametrize("pose_id", list(load_catalogue().poses))
def test_every_pose_renders_with_exact_cloth(renders, saree, pose_id):
    s_flat, _ = saree
    placement, image = renders[pose_id]
    assert image.dtype == np.uint8 and image.shape == (CANVAS_HEIGHT, CANVAS_HEIGHT * 2 // 3, 3)
    assert image.shape[0] >= 1500
    for region in placement.regions:
        want, mask = expected_region(s_flat, placement, region.name)
        x, y, w, h = region.bbox
        got = image[y : y + h, x : x + w]
        assert np.array_equal(got[mask], want[mask]), region.name


@pytest.mark.parametrize("pose_id", ["01", "05", "08", "12"])
def test_the_scene_around_the_cloth_is_a_light_studio(renders, pose_id):
    placement, image = renders[pose_id]
    free = owner_mask(placement) < 0
    pose = load_catalogue().poses[pose_id]
    for shape in pose.shapes:  # the mannequin is not background
        (x, y, w, h), coverage = shape_coverage(shape, placement.canvas_size)
        free[y : y + h, x : x + w] &= coverage == 0
    background = image[free].astype(int)
    assert background.mean() > 180  # light
    assert np.abs(background - background.mean(axis=1, keepdims=True)).mean() < 8  # neutral
    # a soft gradient or shadow, not a flat fill
    assert background.std() > 2


@pytest.mark.parametrize("pose_id", ["01", "09", "11"])
def test_the_mannequin_is_drawn_in_soft_grey(renders, pose_id):
    placement, image = renders[pose_id]
    pose = load_catalogue().poses[pose_id]
    # leave out the pixel ring where the cloth's outline is blended into what is behind it
    cloth = cv2.dilate((owner_mask(placement) >= 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    drawn = 0
    for shape in pose.shapes:
        (x, y, w, h), coverage = shape_coverage(shape, placement.canvas_size)
        solid = (coverage >= 1.0) & ~cloth[y : y + h, x : x + w]
        pixels = image[y : y + h, x : x + w][solid].astype(int)
        if pixels.size:
            drawn += len(pixels)
            assert 60 < pixels.mean() < 230
            assert np.abs(pixels - pixels.mean(axis=1, keepdims=True)).max() <= 12  # grey
            assert pixels.std() > 2  # shaded as a rounded form, not flat
    assert drawn > 5000


def test_close_ups_are_full_bleed(renders):
    for pose_id in ("03", "06", "07"):
        placement, _ = renders[pose_id]
        assert (owner_mask(placement) >= 0).mean() > 0.85, pose_id


def test_same_seed_same_bytes_and_the_seed_never_touches_the_cloth(saree):
    s_flat, parts = saree
    placement = build_placement(load_catalogue().poses["01"], parts, canvas_height=CANVAS_HEIGHT)
    adapter = LocalComposeAdapter()
    first = adapter.run(s_flat, placement, 5, [], []).image
    again = adapter.run(s_flat, placement, 5, [], []).image
    other = adapter.run(s_flat, placement, 6, [], []).image
    assert first.tobytes() == again.tobytes()
    cloth = owner_mask(placement) >= 0
    assert np.array_equal(first[cloth], other[cloth])
    assert np.abs(first.astype(int) - other.astype(int)).max() <= 3  # a tiny tone change at most


def test_cloth_edges_are_anti_aliased_outside_the_masks(saree):
    """A red cloth on the light backdrop: the pixels just outside its outline are part red."""
    _, parts = saree
    red = np.zeros((parts.flat_size[1], parts.flat_size[0], 3), np.uint8)
    red[:] = (200, 30, 30)
    placement = build_placement(load_catalogue().poses["08"], parts, canvas_height=CANVAS_HEIGHT)
    image = LocalComposeAdapter().run(red, placement, 0, [], []).image.astype(int)
    cloth = owner_mask(placement) >= 0
    ring = np.zeros_like(cloth)
    ring[:, 1:] |= cloth[:, :-1]
    ring[:, :-1] |= cloth[:, 1:]
    ring[1:] |= cloth[:-1]
    ring[:-1] |= cloth[1:]
    ring &= ~cloth
    redness = image[..., 0] - image[..., 1]
    backdrop = np.median(redness[~cloth])
    assert backdrop < 10
    assert backdrop + 20 < redness[ring].mean() < np.median(redness[cloth])


def test_instructions_are_acknowledged_in_info(saree):
    s_flat, parts = saree
    placement = build_placement(load_catalogue().poses["04"], parts, canvas_height=CANVAS_HEIGHT)
    result = LocalComposeAdapter().run(
        s_flat, placement, 3, ["Preserve border geometry exactly."], ["border_geometry"]
    )
    assert result.info["adapter"] == "local_compose"
    assert result.info["pose"] == "04" and result.info["label"] == "Pallu close-up"
    assert result.info["acknowledged_instructions"] == ["Preserve border geometry exactly."]
    assert result.info["acknowledged_forbidden_changes"] == ["border_geometry"]
    assert result.info["regions"] == [r.name for r in placement.regions]


def test_renders_a_saree_without_borders(saree):
    s_flat, parts = flat_saree(1)
    placement = build_placement(load_catalogue().poses["01"], parts, canvas_height=CANVAS_HEIGHT)
    image = LocalComposeAdapter().run(s_flat, placement, 1, [], []).image
    for region in placement.regions:
        want, mask = expected_region(s_flat, placement, region.name)
        x, y, w, h = region.bbox
        assert np.array_equal(image[y : y + h, x : x + w][mask], want[mask])


def test_bad_inputs_are_invalid_input(saree):
    s_flat, parts = saree
    adapter = LocalComposeAdapter()
    placement = build_placement(load_catalogue().poses["03"], parts, canvas_height=CANVAS_HEIGHT)
    with pytest.raises(InvalidInput, match="placement map"):
        adapter.run(s_flat, None, 0, [], [])
    with pytest.raises(InvalidInput, match="built for"):
        adapter.run(s_flat[:, :-10], placement, 0, [], [])
    with pytest.raises(InvalidInput, match="RGB uint8"):
        adapter.run(s_flat.astype(np.float32), placement, 0, [], [])
    unknown = placement.model_copy(update={"pose": "99"})
    with pytest.raises(InvalidInput, match="Unknown pose"):
        adapter.run(s_flat, unknown, 0, [], [])
