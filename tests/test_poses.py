"""The pose catalogue is data: it loads, names 12 poses, maps modes, and rejects bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sareeflow.errors import InvalidInput
from sareeflow.poses import (
    DEFAULT_CATALOGUE_PATH,
    MODE_POSES,
    CurveRef,
    RibbonGeometry,
    get_pose,
    load_catalogue,
    poses_for_mode,
)


def test_catalogue_has_twelve_poses_with_unique_labels():
    catalogue = load_catalogue()
    assert list(catalogue.poses) == [f"{n:02d}" for n in range(1, 13)]
    labels = [pose.label for pose in catalogue.poses.values()]
    assert len(set(labels)) == 12
    assert all(label.strip() for label in labels)
    for pose_id, pose in catalogue.poses.items():
        assert pose.id == pose_id
        assert pose.regions, pose_id
        assert pose.canvas_size(1536) == (1024, 1536)


def test_labels_are_the_ones_sellers_see():
    catalogue = load_catalogue()
    assert catalogue.poses["01"].label == "Front drape"
    assert catalogue.poses["04"].label == "Pallu close-up"
    assert catalogue.poses["12"].label == "Full length flat lay"


def test_default_catalogue_is_cached():
    assert load_catalogue() is load_catalogue()
    assert load_catalogue(DEFAULT_CATALOGUE_PATH) is load_catalogue()


def test_mode_mapping():
    assert poses_for_mode("standard") == ("01", "02", "03", "04")
    assert poses_for_mode("extend") == ("05", "06", "07", "08", "09", "10", "11", "12")
    assert dict(load_catalogue().modes) == MODE_POSES
    assert set(MODE_POSES["standard"]).isdisjoint(MODE_POSES["extend"])


@pytest.mark.parametrize("mode", ["retry_failed", "everything", ""])
def test_unknown_modes_are_invalid_input(mode):
    with pytest.raises(InvalidInput):
        poses_for_mode(mode)


def test_unknown_pose_is_invalid_input():
    assert get_pose("03").label == "Pleats close-up"
    with pytest.raises(InvalidInput, match="Unknown pose"):
        get_pose("13")


def test_standard_poses_show_body_both_borders_and_pallu():
    catalogue = load_catalogue()
    shown = {
        (region.kind, region.part)
        for pose_id in poses_for_mode("standard")
        for region in catalogue.poses[pose_id].regions
    }
    assert {
        ("body", "body"),
        ("border", "border_top"),
        ("border", "border_bottom"),
        ("pallu", "pallu"),
    } <= shown


def test_every_extend_pose_differs_from_the_standard_ones():
    catalogue = load_catalogue()
    descriptions = [pose.description for pose in catalogue.poses.values()]
    assert all(descriptions) and len(set(descriptions)) == 12


def _raw() -> dict:
    return json.loads(DEFAULT_CATALOGUE_PATH.read_text(encoding="utf-8"))


def test_a_new_pose_set_needs_only_data(tmp_path: Path):
    raw = _raw()
    raw["poses"]["13"] = {
        **raw["poses"]["07"],
        "label": "Texture, second look",
        "description": "Another close-up.",
    }
    raw["modes"]["showcase"] = ["13", "01"]
    path = tmp_path / "poses.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    catalogue = load_catalogue(path)
    assert catalogue is not load_catalogue()
    assert poses_for_mode("showcase", catalogue) == ("13", "01")
    assert catalogue.poses["13"].label == "Texture, second look"


def test_views_drapes_and_figures_are_resolved_when_loading():
    catalogue = load_catalogue()
    raw = _raw()
    hem = raw["drapes"]["nivi_skirt"]["curves"]["hem"]
    # pose 11 is the nivi skirt seen through a 1.7x view
    pose = catalogue.poses["11"]
    view = raw["poses"]["11"]["view"]
    assert pose.curves["hem"][0] == pytest.approx(
        (hem[0][0] * view["scale"] + view["dx"], hem[0][1] * view["scale"] + view["dy"])
    )
    assert pose.drop == pytest.approx(raw["poses"]["11"]["drop"] * view["scale"])
    assert {r.name for r in pose.regions} >= {"skirt", "pleats", "pleats_border"}
    assert len(pose.shapes) == len(raw["figures"]["front"])
    # a shape moved in depth by the pose's figure reference
    front = {s.name: s for s in catalogue.poses["01"].shapes}
    assert front["right_upper_arm"].z == raw["poses"]["01"]["figure"]["z"]["right_upper_arm"]
    hem_border = next(r for r in catalogue.poses["05"].regions if r.name == "hem_border")
    assert isinstance(hem_border.geometry, RibbonGeometry)
    assert isinstance(hem_border.geometry.spine, CurveRef)


def test_a_loaded_catalogue_validates_again_unchanged():
    catalogue = load_catalogue()
    again = type(catalogue).model_validate(catalogue.model_dump())
    assert again == catalogue


@pytest.mark.parametrize(
    "break_it, match",
    [
        (lambda raw: raw["poses"]["03"].update(label=raw["poses"]["01"]["label"]), "unique"),
        (lambda raw: raw["modes"].update(standard=["01", "99"]), "unknown poses"),
        (
            lambda raw: raw["poses"]["03"]["regions"][0]["geometry"]["b"].update(ref="nope"),
            "unknown curve",
        ),
        (lambda raw: raw["poses"]["03"]["regions"][0].update(kind="sleeve"), "kind"),
        (lambda raw: raw["poses"]["03"]["regions"][0]["src"].update(y=[0.2, None]), "automatic"),
    ],
)
def test_broken_catalogues_are_rejected(tmp_path: Path, break_it, match):
    raw = _raw()
    break_it(raw)
    path = tmp_path / "poses.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_catalogue(path)
    assert match in caught.value.detail


def test_unreadable_catalogue_is_invalid_input(tmp_path: Path):
    path = tmp_path / "poses.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInput, match="could not be loaded"):
        load_catalogue(path)
    with pytest.raises(InvalidInput):
        load_catalogue(tmp_path / "missing.json")
