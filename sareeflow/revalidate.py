"""``sareeflow validate ATTEMPT_DIR [--image PATH]``: re-run validation on a stored attempt.

An attempt folder is self-describing: its ``metrics.json`` names the S_flat and placement map it
was validated against, so any candidate image can be checked against the same ground truth.
"""

from __future__ import annotations

import json
from pathlib import Path

from sareeflow.errors import InvalidInput, NotFound
from sareeflow.imaging import decode_any, decode_png
from sareeflow.models import PartsInfo, PlacementMap
from sareeflow.placement import build_placement
from sareeflow.poses import load_catalogue
from sareeflow.settings import get_settings
from sareeflow.store import Store, check_id
from tasks.validate import validate_output


def locate_attempt(attempt_dir: Path) -> tuple[Store, str, str]:
    """(store, saree_id, attempt path relative to the saree) from an attempt folder path."""
    path = attempt_dir.resolve()
    parts = path.parts
    try:
        index = len(parts) - 1 - parts[::-1].index("sarees")
        saree_id = check_id(parts[index + 1], what="saree")
    except (ValueError, IndexError) as exc:
        raise NotFound(f"{attempt_dir} is not an attempt folder inside a storage root.") from exc
    rel = "/".join(parts[index + 2 :])
    if not (path / "metrics.json").is_file():
        raise NotFound(f"{attempt_dir} is not a finished attempt (no metrics.json).")
    return Store(Path(*parts[:index])), saree_id, rel


def rebuild_placement(store: Store, saree_id: str, inputs: dict[str, str]) -> PlacementMap:
    """Rebuild the attempt's placement map and prove it is the one the attempt was judged on.

    The stored ``placement.json`` holds the geometry and a digest of the maps; the maps are
    rebuilt from the pose catalogue and the prepared ``parts.json`` beside S_flat.
    """
    record = store.read_json(saree_id, inputs["placement"])
    parts_path = inputs["s_flat"].rsplit("/", 1)[0] + "/parts.json"
    parts = PartsInfo.model_validate(store.read_json(saree_id, parts_path))
    pose = load_catalogue().poses.get(record["pose"])
    if pose is None:
        raise InvalidInput(f"Pose {record['pose']} is no longer in the pose catalogue.")
    placement = build_placement(pose, parts, canvas_height=record["canvas_size"][1])
    if placement.arrays_sha256() != record["arrays_sha256"]:
        raise InvalidInput(
            f"The geometry of pose {record['pose']} changed since this attempt was made, "
            "so it can no longer be re-validated exactly."
        )
    return placement


def revalidate(attempt_dir: Path, *, image: Path | None = None) -> dict:
    store, saree_id, rel = locate_attempt(attempt_dir)
    stored = json.loads(store.read_bytes(saree_id, f"{rel}/metrics.json"))
    placement = rebuild_placement(store, saree_id, stored["inputs"])
    s_flat = decode_png(store.read_bytes(saree_id, stored["inputs"]["s_flat"]))
    if image is None:
        candidate = decode_png(store.read_bytes(saree_id, f"{rel}/output.png"))
        shown = str(store.resolve(saree_id, f"{rel}/output.png"))
    else:
        try:
            candidate = decode_any(image.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"Cannot read {image}.") from exc
        shown = str(image)
    width, height = placement.canvas_size
    if candidate.shape[:2] != (height, width):
        raise InvalidInput(
            f"The image is {candidate.shape[1]}x{candidate.shape[0]}; this pose needs {width}x{height}."
        )
    report = validate_output(candidate, placement, s_flat, thresholds=get_settings().thresholds)
    return {
        "attempt_dir": str(store.resolve(saree_id, rel)),
        "image": shown,
        "pose": report.pose,
        "pass": report.passed,
        "failures": list(report.failures),
        "regions": [check.model_dump(mode="json", by_alias=True) for check in report.regions],
    }
