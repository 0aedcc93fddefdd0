"""Issue 6, item 5: a full disk or a refused permission during a job.

Faults are injected at the store's own ``os`` calls (:mod:`faults`), at a chosen artifact and
step, so the real write-once code meets the error exactly where a disk would raise it:

* one pose attempt (the pure compose and validate functions the pose task runs), at every artifact it writes and at
  every step of a write: the error surfaces as a categorised ``storage`` failure, no temporary
  file survives, nothing listed is partial, the failed artifact is neither listed nor served,
  and the next attempt, once the disk is back, writes and lists everything;
* whole standard jobs (real Prefect flows, in this process, against the crash stack's Prefect
  server) hit at a stage, at a pose attempt, and by a disk that stays full: the job ends
  ``failed`` with category ``storage`` (or, when the disk cannot even take the failure's own
  record, ``crashed`` once its process has let go), never running;
* optionally a real tmpfs too small for a job (skipped where mounting is not allowed).
"""

from __future__ import annotations

import errno
import os
import subprocess
import warnings
from pathlib import Path

import pytest
from faults import FaultyDisk, install, temp_leftovers
from invariants import API, manifest_violations, unlisted_files

from sareeflow.cli import sample_image_path
from sareeflow.errors import StorageError, user_safe
from sareeflow.jobs import admit_job, job_state, reconcile
from sareeflow.settings import Settings, get_settings
from sareeflow.store import Store
from sareeflow.uploads import store_upload

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*install `httpx2`", category=UserWarning)
    from fastapi.testclient import TestClient

SMALL = {"work_max_side_px": 640, "canvas_height_px": 512}
"""The pose-attempt cases need real inputs, not faithful ones: small and quick."""
ATTEMPT_ARTIFACTS = ("adapter_input.json", "output.png", "adapter_output.json", "metrics.json")
"""What one attempt writes, in order (tasks/pose.py)."""


@pytest.fixture(scope="module")
def pose_inputs():
    """(s_flat, placement of pose 01) from the pure stages on the bundled sample."""
    from adapters.local_flatten import LocalFlattenAdapter
    from sareeflow.imaging import normalize_upload
    from sareeflow.placement import build_placement
    from sareeflow.poses import load_catalogue
    from tasks.extract import extract_parts
    from tasks.isolate import isolate

    settings = Settings(storage_root=Path("unused"), **SMALL)
    normalized = normalize_upload(sample_image_path().read_bytes(), settings=settings)
    s_clean, _mask, _info = isolate(normalized.image, settings=settings)
    s_flat = LocalFlattenAdapter(settings=settings).run(s_clean, None, 1, [], []).image
    parts = extract_parts(s_flat)
    placement = build_placement(
        load_catalogue().poses["01"], parts, canvas_height=SMALL["canvas_height_px"]
    )
    return s_flat, placement


def _pose_job(store: Store, settings: Settings):
    from tasks.pose import PoseJob

    saree = store_upload(sample_image_path().read_bytes(), filename="s.jpg", settings=settings)
    job = admit_job(store, saree.saree_id, "standard")
    return PoseJob(
        job_id=job.job_id,
        saree_id=saree.saree_id,
        mode="standard",
        generation=store.new_generation(saree.saree_id),
        upload_sha256=store.artifact(saree.saree_id, saree.original_path).sha256,
        s_flat_path="generations/0001/prepared/s_flat.png",
        s_flat_sha256="0" * 64,
    )


@pytest.mark.parametrize(
    ("at", "step", "code", "sticky"),
    [
        (1, "open", errno.EACCES, False),
        (2, "write", errno.ENOSPC, False),
        (2, "link", errno.EDQUOT, False),
        (3, "write", errno.ENOSPC, False),
        (4, "link", errno.ENOSPC, False),
        (4, "open", errno.EACCES, False),
        (2, "append", errno.ENOSPC, False),
        (4, "append", errno.ENOSPC, False),
        (2, "write", errno.ENOSPC, True),
    ],
    ids=[
        "open-EACCES-adapter_input",
        "write-ENOSPC-output",
        "link-EDQUOT-output",
        "write-ENOSPC-adapter_output",
        "link-ENOSPC-metrics",
        "open-EACCES-metrics",
        "append-ENOSPC-output_manifest_line",
        "append-ENOSPC-metrics_manifest_line",
        "write-ENOSPC-output-disk_stays_full",
    ],
)
def test_pose_attempt_fault_is_storage_and_leaves_nothing_half_written(
    storage_root, pose_inputs, monkeypatch, at, step, code, sticky
):
    from tasks.pose import pose_dir

    s_flat, placement = pose_inputs
    settings = Settings(storage_root=storage_root, **SMALL)
    store = Store(storage_root)
    job = _pose_job(store, settings)
    listed_before = {r.path for r in store.artifacts(job.saree_id)}

    disk = install(monkeypatch, FaultyDisk(at=at, step=step, code=code, sticky=sticky))
    with pytest.raises(StorageError) as caught:
        _attempt(store, settings, job, s_flat, placement)
    monkeypatch.undo()  # the disk is back

    assert user_safe(caught.value) == ("storage", caught.value.message)
    assert disk.failed, "the fault never fired"
    attempt = f"{pose_dir(job.generation, '01')}/attempt-1"
    listed = {r.path for r in store.artifacts(job.saree_id)} - listed_before
    written = ATTEMPT_ARTIFACTS[: at - 1]
    assert listed == {f"{attempt}/{name}" for name in written}
    assert temp_leftovers(storage_root) == []
    assert manifest_violations(store, job.saree_id) == []
    leftovers = unlisted_files(store, job.saree_id)
    if step == "append":  # published, but its manifest line tore: whole, and never served
        assert leftovers == [f"{attempt}/{ATTEMPT_ARTIFACTS[at - 1]}"]
    else:
        assert leftovers == []
    assert not [e for e in store.events(job.job_id) if e["type"] == "attempt_finished"]
    _assert_not_served(storage_root, job.saree_id, leftovers)

    # The next attempt, on a healthy disk, is whole and listed despite the torn line.
    outcome = _attempt(store, settings, job, s_flat, placement)
    assert outcome.attempt == 2
    second = {r.path for r in store.artifacts(job.saree_id)}
    assert {f"{outcome.attempt_dir}/{name}" for name in ATTEMPT_ARTIFACTS} <= second
    assert manifest_violations(store, job.saree_id) == []


def _attempt(store: Store, settings: Settings, job, s_flat, placement):
    """One attempt of pose 01 as the pose task makes it, minus Prefect: claim the attempt's
    folder, compose (input log, output, output log), validate (metrics, event)."""
    from tasks.pose import compose_attempt, next_attempt_number, pose_dir, validate_attempt

    attempt = next_attempt_number(store, job, "01")
    store.resolve(job.saree_id, f"{pose_dir(job.generation, '01')}/attempt-{attempt}").mkdir(
        parents=True
    )
    composed = compose_attempt(store, settings, job, "01", attempt, s_flat, placement, "0" * 64)
    return validate_attempt(store, settings, job, "01", composed, s_flat, placement)


def _assert_not_served(root: Path, saree_id: str, relpaths: list[str]) -> None:
    from api.main import create_app

    with TestClient(create_app(Settings(storage_root=root)), raise_server_exceptions=False) as c:
        for rel in relpaths:
            assert c.get(f"{API}/sarees/{saree_id}/artifacts/{rel}").status_code == 404, rel


# --------------------------------------------------------------------------- whole jobs
@pytest.fixture
def in_process_flows(flow_stack, storage_root, monkeypatch):
    """Run flows in this process (so the faulty ``os`` reaches every pose thread), recorded by
    the crash stack's Prefect server instead of a temporary one of their own."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    for key, value in SMALL.items():
        monkeypatch.setenv(f"SAREEFLOW_{key.upper()}", str(value))
    get_settings.cache_clear()
    updates = {
        PREFECT_API_URL: flow_stack[0].prefect_api_url,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
    }
    with temporary_settings(updates=updates):
        yield Store(storage_root)
    get_settings.cache_clear()


def _run_standard(store: Store, monkeypatch, disk: FaultyDisk) -> tuple[dict, FaultyDisk]:
    """A standard job on a fresh saree with ``disk`` in place while its flow runs; returns
    its final state as the API would show it (reconciled) and the disk."""
    from flows.pipeline import FLOWS

    saree = store_upload(
        sample_image_path().read_bytes(), filename="s.jpg", settings=get_settings()
    )
    job = admit_job(store, saree.saree_id, "standard")
    install(monkeypatch, disk)
    try:
        FLOWS["standard"](saree_id=saree.saree_id, job_id=job.job_id, return_state=True)
    finally:
        monkeypatch.setattr("sareeflow.store.os", os)  # the disk is back
    return reconcile(store, job_state(store, job.job_id)).model_dump(mode="json"), disk


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (dict(name="s_clean.png", step="write", code=errno.ENOSPC), ("storage", "isolate")),
        (dict(name="parts.json", step="open", code=errno.EACCES), ("storage", "extract")),
        # The other poses still finish and are published: the job ends after finalize.
        (dict(name="output.png", step="link", code=errno.EDQUOT), ("storage", "finalize")),
        (dict(at=6, step="append", code=errno.ENOSPC), ("storage", None)),
        (dict(name="s_flat.png", step="write", code=errno.ENOSPC, sticky=True), ("crashed", None)),
    ],
    ids=["isolate-ENOSPC", "extract-EACCES", "pose_output-EDQUOT", "manifest_line-ENOSPC",
         "disk_stays_full"],
)  # fmt: skip
def test_job_hit_by_storage_fault_fails_categorised_with_nothing_half_written(
    in_process_flows, storage_root, monkeypatch, fault, expected
):
    store = in_process_flows
    state, disk = _run_standard(store, monkeypatch, FaultyDisk(**fault))
    assert disk.failed, "the fault never fired"
    category, stage = expected
    poses = [(p["pose"], p["status"], p["attempts"]) for p in state["poses"]]
    assert state["status"] == "failed", (state["status"], state["error"], poses)
    assert state["error"]["category"] == category, (state["error"], poses)
    if stage is not None:
        assert _failed_stage(store, state["job_id"]) == stage
    assert temp_leftovers(storage_root) == []
    assert manifest_violations(store, state["saree_id"]) == []
    _assert_not_served(storage_root, state["saree_id"], unlisted_files(store, state["saree_id"]))
    if disk.sticky:
        # The disk is back: the saree is not blocked, and the next job finishes whole.
        from flows.pipeline import FLOWS

        again = admit_job(store, state["saree_id"], "standard")
        FLOWS["standard"](saree_id=state["saree_id"], job_id=again.job_id, return_state=True)
        assert job_state(store, again.job_id).status == "success"
        assert manifest_violations(store, state["saree_id"]) == []


def _failed_stage(store: Store, job_id: str) -> str | None:
    stages = [e["stage"] for e in store.events(job_id) if e["type"] == "stage_started"]
    return stages[-1] if stages else None


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A real tmpfs of ``size`` bytes (as root only; skipped where mounting is refused)."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        point = tmp_path / "tmpfs"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
            capture_output=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.mark.slow
def test_job_on_a_really_full_tmpfs_fails_as_storage(
    in_process_flows, tiny_tmpfs, tmp_path, monkeypatch
):
    """The kernel's own ENOSPC, not an injected one: a tmpfs with room for the upload and
    about a tenth of what a standard job writes."""
    from flows.pipeline import FLOWS

    probe = Store(tmp_path / "probe")
    photo = sample_image_path().read_bytes()
    store_upload(photo, filename="s.jpg", settings=Settings(storage_root=probe.root, **SMALL))
    upload_bytes = sum(p.stat().st_size for p in probe.root.rglob("*") if p.is_file())
    root = tiny_tmpfs(upload_bytes + 512 * 1024)
    monkeypatch.setenv("SAREEFLOW_STORAGE_ROOT", str(root))
    get_settings.cache_clear()
    store = Store(root)
    saree = store_upload(photo, filename="s.jpg", settings=get_settings())
    job = admit_job(store, saree.saree_id, "standard")
    FLOWS["standard"](saree_id=saree.saree_id, job_id=job.job_id, return_state=True)

    state = reconcile(store, job_state(store, job.job_id))
    stage = _failed_stage(store, job.job_id)
    print(
        f"\ntmpfs of {upload_bytes + 512 * 1024} bytes: job failed in stage {stage}: {state.error}"
    )
    assert state.status == "failed" and stage is not None
    assert state.error is not None and state.error.category == "storage", state.error
    assert temp_leftovers(root) == []
    assert manifest_violations(store, saree.saree_id) == []
    _assert_not_served(root, saree.saree_id, unlisted_files(store, saree.saree_id))
