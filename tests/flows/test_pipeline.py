"""The foundation's promises, end to end through real Prefect flows (issue 2's "must show")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sareeflow.cli import main as cli_main
from sareeflow.cli import run_mode, sample_image_path
from sareeflow.settings import get_settings
from sareeflow.store import Store

pytestmark = pytest.mark.slow

IMAGE_KINDS = {"pose_output", "s_clean", "s_flat", "mask", "part"}
METRICS_KINDS = {"pose_metrics", "generation_metrics", "retry_log", "parts_info"}
CARRIES_IDS = {"generation"}
"""Artifacts that name the saree or the job (random ids): the only ones two runs may differ in."""


def _upload(root: Path) -> str:
    from sareeflow.uploads import store_upload

    return store_upload(
        sample_image_path().read_bytes(), filename="sample.jpg", settings=get_settings()
    ).saree_id


def _configure(monkeypatch, root: Path, injection: str = "") -> None:
    monkeypatch.setenv("SAREEFLOW_STORAGE_ROOT", str(root))
    monkeypatch.setenv("SAREEFLOW_FAILURE_INJECTION", injection)
    get_settings.cache_clear()


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(".jsonl") and "locks" not in p.parts
    }


@pytest.fixture(scope="module")
def standard_run(tmp_path_factory):
    """One clean standard job shared by the read-only checks below."""
    root = tmp_path_factory.mktemp("standard")
    mp = pytest.MonkeyPatch()
    _configure(mp, root)
    saree_id = _upload(root)
    state = run_mode(saree_id, "standard")
    yield root, saree_id, state
    mp.undo()
    get_settings.cache_clear()


def test_standard_job_succeeds_with_four_published_poses(standard_run):
    root, saree_id, state = standard_run
    assert state["status"] == "success", state
    assert state["generation"] == 1 and state["retries"] == 0
    assert [p["pose"] for p in state["poses"]] == ["01", "02", "03", "04"]
    for pose in state["poses"]:
        assert pose["status"] == "passed" and pose["attempts"] == 1
        assert Path(pose["output"]).is_file() and Path(pose["attempt_dir"]).is_dir()
        assert pose["label"] and pose["label"] != pose["pose"]  # labels come from the catalogue


def test_every_intermediate_artifact_is_stored_and_listed(standard_run):
    root, saree_id, _ = standard_run
    store = Store(root)
    listed = {r.path: r for r in store.artifacts(saree_id)}
    kinds = {r.kind for r in listed.values()}
    for kind in (
        "original",
        "normalized",
        "s_clean",
        "mask",
        "s_flat",
        "parts_info",
        "part",
        "placement",
        "adapter_input",
        "pose_output",
        "pose_metrics",
        "retry_log",
        "generation_metrics",
        "prepared",
    ):
        assert kind in kinds, f"no {kind} artifact"
    for path, record in listed.items():
        data = store.read_bytes(saree_id, path)
        assert len(data) == record.size
    files = {
        str(p.relative_to(store.saree_dir(saree_id)))
        for p in store.saree_dir(saree_id).rglob("*")
        if p.is_file() and p.name not in ("manifest.jsonl", "saree.json") and "jobs" not in p.parts
    }
    assert files == set(listed), "every stored file is in the manifest"


def test_validate_command_rechecks_a_stored_attempt_with_bboxes(standard_run, capsys):
    root, saree_id, state = standard_run
    attempt_dir = state["poses"][0]["attempt_dir"]
    assert cli_main(["validate", attempt_dir, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pass"] is True
    assert all(len(region["bbox"]) == 4 for region in report["regions"])


def test_extend_reuses_prepared_inputs_and_modifies_nothing(standard_run, monkeypatch):
    root, saree_id, _ = standard_run
    _configure(monkeypatch, root)
    before = _snapshot(root)
    state = run_mode(saree_id, "extend")
    assert state["status"] == "success", state
    assert state["generation"] == 2
    assert [p["pose"] for p in state["poses"]] == [f"{n:02d}" for n in range(5, 13)]
    store = Store(root)
    gen1 = store.read_json(saree_id, "generations/0001/metrics.json")
    gen2 = store.read_json(saree_id, "generations/0002/metrics.json")
    assert gen2["prepared_from_generation"] == 1
    assert gen2["prepared_sha256"] == gen1["prepared_sha256"]
    assert not store.resolve(saree_id, "generations/0002/prepared").exists()
    after = _snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before, "an existing file changed"


def test_injected_border_distortion_is_caught_and_retried_with_constraint(tmp_path, monkeypatch):
    _configure(monkeypatch, tmp_path, "02:border_distortion@1")
    saree_id = _upload(tmp_path)
    state = run_mode(saree_id, "standard")
    assert state["status"] == "success", state
    assert state["retries"] == 1
    pose02 = next(p for p in state["poses"] if p["pose"] == "02")
    assert pose02["attempts"] == 2
    store = Store(tmp_path)
    first = store.read_json(saree_id, "generations/0001/poses/02/attempt-1/metrics.json")
    assert first["pass"] is False and "border_distortion" in first["failures"]
    assert any("border" in reason.lower() for reason in first["reasons"])
    second_input = store.read_json(
        saree_id, "generations/0001/poses/02/attempt-2/adapter_input.json"
    )
    assert any("border distortion" in line for line in second_input["strict_instructions"])
    assert "border_path" in second_input["forbidden_changes"]  # added by the border rule
    first_input = store.read_json(
        saree_id, "generations/0001/poses/02/attempt-1/adapter_input.json"
    )
    assert first_input["strict_instructions"] == []
    assert "border_path" not in first_input["forbidden_changes"]
    log = store.read_json(saree_id, "generations/0001/retry_log.json")["entries"]
    pose02_log = [e for e in log if e["pose"] == "02"]
    assert [e["pass"] for e in pose02_log] == [False, True]
    assert pose02_log[0]["injected_defect"] == "border_distortion"


def test_exhausted_pose_fails_job_then_retry_failed_reruns_only_it(tmp_path, monkeypatch):
    _configure(monkeypatch, tmp_path, "03:color_shift@*")
    saree_id = _upload(tmp_path)
    state = run_mode(saree_id, "standard")
    assert state["status"] == "failed"
    assert state["error"]["category"] == "validation_failed"
    by_pose = {p["pose"]: p for p in state["poses"]}
    assert by_pose["03"]["status"] == "failed" and by_pose["03"]["attempts"] == 4
    assert by_pose["03"]["output"] is None
    for pose in ("01", "02", "04"):
        assert by_pose[pose]["status"] == "passed" and Path(by_pose[pose]["output"]).is_file()
    _configure(monkeypatch, tmp_path)
    retried = run_mode(saree_id, "retry_failed")
    assert retried["status"] == "success", retried
    assert retried["generation"] == 2
    assert [p["pose"] for p in retried["poses"]] == ["03"]
    store = Store(tmp_path)
    gen1 = store.read_json(saree_id, "generations/0001/metrics.json")
    gen2 = store.read_json(saree_id, "generations/0002/metrics.json")
    assert gen2["prepared_sha256"] == gen1["prepared_sha256"]  # same S_clean/S_flat/parts
    from sareeflow.gallery import build_gallery

    gallery = {p.pose: p for p in build_gallery(store, saree_id).poses}
    for pose in ("01", "02", "04"):  # still published from generation 1
        assert gallery[pose].status == "passed" and gallery[pose].generation == 1
    assert gallery["03"].status == "passed" and gallery["03"].generation == 2
    assert build_gallery(store, saree_id).actions.retry_failed is False


def test_two_demo_runs_give_byte_identical_images_and_metrics(tmp_path, monkeypatch):
    digests = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        _configure(monkeypatch, root)
        saree_id = _upload(root)
        assert run_mode(saree_id, "standard")["status"] == "success"
        digests.append(
            {r.path: r.sha256 for r in Store(root).artifacts(saree_id) if r.kind not in CARRIES_IDS}
        )
    kinds = {r.kind for r in Store(tmp_path / "b").artifacts(saree_id)}
    assert IMAGE_KINDS | METRICS_KINDS | {"contact_sheet", "retry_log_md", "prepared"} <= kinds
    assert digests[0] and digests[0] == digests[1]  # every artifact but the id-carrying ones
