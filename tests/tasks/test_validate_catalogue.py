"""validate_output on the real pose catalogue, rendered by the local compose adapter.

One generated saree (borders, motif body, pallu) through every pose: faithful renders pass
(also JPEG q90), and each required defect is caught, with its kind, on the standard poses.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.local_compose import LocalComposeAdapter
from sareeflow.defects import applies_to, apply_defect
from sareeflow.models import PartInfo, PartsInfo, PlacementMap
from sareeflow.placement import build_placement
from sareeflow.poses import load_catalogue
from sareeflow.settings import ValidationThresholds
from sareeflow.synth.cloth import make_cloth, simulate_flat
from tasks.validate import validate_output
from tests.validation_fixture import jpeg_roundtrip

SAREE_SEED = 11
"""A saree with woven borders (motif band), buttis on a dark body and a dense pallu."""
FLAT_SIZE = (2048, 560)
CANVAS_HEIGHT = 1536
THRESHOLDS = ValidationThresholds()
CATALOGUE = load_catalogue()
STANDARD = CATALOGUE.modes["standard"]
REQUIRED = {
    "border_distortion": "border_distortion",
    "color_shift": "color_shift",
    "pattern_loss": "pattern_loss",
    "pallu_swap": "pallu_mismatch",
}


@pytest.fixture(scope="module")
def saree() -> tuple[np.ndarray, PartsInfo]:
    cloth, truth = make_cloth(SAREE_SEED, size=FLAT_SIZE)
    assert truth.border_top and truth.border_bottom and truth.pallu
    parts = PartsInfo(
        flat_size=truth.size,
        parts={
            name: PartInfo(name=name, rect=getattr(truth, name), confidence=1.0)
            for name in ("body", "border_top", "border_bottom", "pallu")
        },
    )
    return simulate_flat(cloth, SAREE_SEED), parts


@pytest.fixture(scope="module")
def renders(saree) -> dict[str, tuple[PlacementMap, np.ndarray]]:
    s_flat, parts = saree
    adapter = LocalComposeAdapter()
    out = {}
    for pose_id, pose in CATALOGUE.poses.items():
        placement = build_placement(pose, parts, canvas_height=CANVAS_HEIGHT)
        out[pose_id] = (placement, adapter.run(s_flat, placement, 1, [], []).image)
    return out


def test_catalogue_has_twelve_poses():
    assert len(CATALOGUE.poses) == 12 and len(STANDARD) == 4


def test_every_required_defect_applies_to_most_standard_poses(renders):
    """Only pose 03 (pleats close-up, no pallu in view) cannot take a pallu swap."""
    for defect in REQUIRED:
        kinds = [{r.kind for r in renders[p][0].regions} for p in STANDARD]
        assert sum(applies_to(defect, k) for k in kinds) >= 3


@pytest.mark.parametrize("pose_id", sorted(CATALOGUE.poses))
def test_faithful_render_of_every_pose_passes(saree, renders, pose_id):
    s_flat, _ = saree
    placement, image = renders[pose_id]
    for candidate in (image, jpeg_roundtrip(image, 90)):
        report = validate_output(candidate, placement, s_flat, thresholds=THRESHOLDS)
        assert report.passed, report.reasons
        assert len(report.regions) >= 1


@pytest.mark.parametrize("defect", sorted(REQUIRED))
@pytest.mark.parametrize("pose_id", STANDARD)
def test_required_defects_are_caught_on_standard_poses(saree, renders, pose_id, defect):
    s_flat, _ = saree
    placement, image = renders[pose_id]
    if not applies_to(defect, {r.kind for r in placement.regions}):
        pytest.skip(f"pose {pose_id} shows no region {defect} could damage")
    damaged = apply_defect(defect, image, placement, seed=int(pose_id))
    report = validate_output(damaged, placement, s_flat, thresholds=THRESHOLDS)
    assert not report.passed
    assert REQUIRED[defect] in report.failures, report.reasons
