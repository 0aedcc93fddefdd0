"""The ``sareeflow`` console commands a user runs with no server (DESIGN §9), through ``main``."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from sareeflow.cli import main as cli_main
from sareeflow.imaging import decode_png, encode_png
from sareeflow.settings import get_settings

pytestmark = pytest.mark.slow

UNREACHABLE_API = "http://127.0.0.1:9"
"""The discard port: nothing listens there, so the stack counts as not running."""


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``sareeflow demo --json`` into a fresh store: the output a user's script would parse."""
    root = tmp_path_factory.mktemp("cli")
    mp = pytest.MonkeyPatch()
    mp.setenv("SAREEFLOW_STORAGE_ROOT", str(root))
    mp.setenv("SAREEFLOW_FAILURE_INJECTION", "")
    mp.setenv("SAREEFLOW_API_URL", UNREACHABLE_API)
    get_settings.cache_clear()
    out = io.StringIO()  # capsys is function-scoped: a module fixture captures by hand
    with contextlib.redirect_stdout(out):
        code = cli_main(["demo", "--json"])
    yield root, code, json.loads(out.getvalue())
    mp.undo()
    get_settings.cache_clear()


def test_demo_prints_a_successful_job_with_every_output_on_disk(demo):
    root, code, state = demo
    assert code == 0
    assert state["status"] == "success" and state["mode"] == "standard"
    assert {"job_id", "saree_id", "generation", "retries", "poses", "saree_dir"} <= set(state)
    assert [p["pose"] for p in state["poses"]] == ["01", "02", "03", "04"]
    for pose in state["poses"]:
        assert Path(pose["output"]).is_file() and Path(pose["attempt_dir"]).is_dir()
        assert Path(pose["output"]).is_relative_to(root)
    kinds = {item["kind"] for item in state["artifacts"]}
    for kind in ("s_clean", "mask", "s_flat", "parts_info", "part", "retry_log", "contact_sheet"):
        assert kind in kinds, kind
    assert all(Path(item["path"]).is_file() for item in state["artifacts"])


def test_status_and_gallery_fall_back_to_the_store_when_no_stack_runs(demo, capsys):
    _, _, state = demo
    assert cli_main(["status", state["job_id"], "--json"]) == 0
    captured = capsys.readouterr()
    assert "Reading the local store instead" in captured.err
    again = json.loads(captured.out)
    assert again["status"] == "success" and again["poses"] == state["poses"]

    assert cli_main(["gallery", state["saree_id"], "--json", "--local"]) == 0
    gallery = _json(capsys)
    passed = [p for p in gallery["poses"] if p["status"] == "passed"]
    assert [p["pose"] for p in passed] == ["01", "02", "03", "04"]
    assert all(Path(p["image"]).is_file() for p in passed)
    assert gallery["actions"]["extend"] is True and gallery["actions"]["retry_failed"] is False


def test_validate_rejects_a_recoloured_candidate_image(demo, capsys, tmp_path):
    _, _, state = demo
    attempt = state["poses"][1]["attempt_dir"]
    output = decode_png(Path(attempt, "output.png").read_bytes())
    tinted = np.clip(output.astype(np.int16) + np.array([18, -6, -12]), 0, 255).astype(np.uint8)
    candidate = tmp_path / "tinted.png"
    candidate.write_bytes(encode_png(tinted, compression=1))
    assert cli_main(["validate", attempt, "--image", str(candidate), "--json"]) == 1
    report = _json(capsys)
    assert report["pass"] is False
    assert any("color_shift" in r.get("failures", []) for r in report["regions"])


def test_bad_input_is_a_categorised_error_and_exit_2(demo, capsys, tmp_path):
    not_an_image = tmp_path / "saree.jpg"
    not_an_image.write_bytes(b"<html>not a photo</html>")
    assert cli_main(["upload", str(not_an_image), "--json"]) == 2
    error = _json(capsys)["error"]
    assert error["category"] == "invalid_input" and "Traceback" not in error["message"]
    assert cli_main(["run", "0" * 32, "--mode", "standard", "--json"]) == 2
    assert _json(capsys)["error"]["category"] == "not_found"
    _, _, state = demo
    assert cli_main(["run", state["saree_id"], "--mode", "retry_failed", "--json"]) == 2
    assert _json(capsys)["error"]["category"] == "conflict"  # nothing failed: no job
