"""``sareeflow validate ATTEMPT_DIR [--image PATH]``: re-run validation on a stored attempt.

An attempt folder is self-describing: its ``metrics.json`` names the S_flat and placement map it
was validated against, so any candidate image can be checked against the same ground truth.
"""

from __future__ import annotations

import json
from pathlib import Path

from sareeflow.errors import InvalidInput, NotFound
from sareeflow.imaging import decode_any, decode_png
from sareeflow.models import PlacementMap
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


def revalidate(attempt_dir: Path, *, image: Path | None = None) -> dict:
    store, saree_id, rel = locate_attempt(attempt_dir)
    stored = json.loads(store.read_bytes(saree_id, f"{rel}/metrics.json"))
    placement = PlacementMap.from_npz_bytes(
        store.read_bytes(saree_id, stored["inputs"]["placement"])
    )
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
