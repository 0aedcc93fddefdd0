"""API test fixtures: an app over a temporary store, a fake launcher, and a way to make a
saree look as if a job had run on it (events + artifacts written through the Store, the same
calls the flows make), so no Prefect server and no image stage is needed.

Helpers are handed out as fixtures (``fake_job``, ``check_problem``) because test folders are
not packages here (``tests/api`` would shadow the real ``api`` package).
"""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from api.main import create_app
from sareeflow.imaging import encode_png
from sareeflow.prepared import MARKER, prepared_prefix
from sareeflow.settings import Settings
from sareeflow.store import Store

with warnings.catch_warnings():
    # Starlette asks for the httpx2 fork at import time; plain httpx is what is installed.
    warnings.filterwarnings("ignore", message=".*install `httpx2`", category=UserWarning)
    from fastapi.testclient import TestClient

SAMPLE_PHOTO = Path(__file__).resolve().parents[2] / "sareeflow" / "samples" / "sample_saree.jpg"
API = "/api/v1"
SECRET = "SECRET-PROMPT"
"""Planted in adapter I/O artifacts; must never appear in any API response."""
LEAKS = (
    "Traceback",
    'File "',
    "/tmp/",
    "/work/",
    "storage_root",
    SECRET,
    "pydantic",
    "errors.pydantic",
)


class FakeLauncher:
    """Records submissions; answers with fixed flow-run ids and the Prefect states set in
    ``states``; raises ``submit_error`` / ``status_error`` when set."""

    def __init__(self) -> None:
        self.submissions: list[tuple[str, str, str]] = []
        self.states: dict[str, str | None] = {}
        self.submit_error: Exception | None = None
        self.status_error: Exception | None = None

    async def submit(self, mode: str, saree_id: str, job_id: str) -> str:
        if self.submit_error is not None:
            raise self.submit_error
        self.submissions.append((mode, saree_id, job_id))
        flow_run_id = str(uuid.UUID(int=len(self.submissions)))
        self.states[flow_run_id] = "SCHEDULED"
        return flow_run_id

    async def flow_run_status(self, flow_run_id: str) -> str | None:
        if self.status_error is not None:
            raise self.status_error
        return self.states.get(flow_run_id)


@pytest.fixture
def settings(storage_root: Path) -> Settings:
    return Settings(storage_root=storage_root)


@pytest.fixture
def launcher() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture
def make_client(settings: Settings, launcher: FakeLauncher):
    """``make_client(**setting_overrides)``: a TestClient over a fresh app and the fake launcher."""

    def make(**overrides) -> TestClient:
        app = create_app(settings.model_copy(update=overrides), launcher)
        return TestClient(app, raise_server_exceptions=False)

    return make


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


@pytest.fixture
def sample_bytes() -> bytes:
    return SAMPLE_PHOTO.read_bytes()


@pytest.fixture
def saree_id(client: TestClient, sample_bytes: bytes) -> str:
    """A saree uploaded through the API from the bundled sample photo."""
    files = {"file": ("sample.jpg", sample_bytes, "image/jpeg")}
    response = client.post(f"{API}/sarees", files=files)
    assert response.status_code == 201, response.text
    return response.json()["saree_id"]


def pose_png(seed: int) -> bytes:
    """A small real PNG, different per seed (so every artifact has its own sha256)."""
    rng = np.random.default_rng(seed)
    return encode_png(rng.integers(0, 256, size=(24, 16, 3), dtype=np.uint8), compression=1)


def write_fake_pose(
    store: Store, job_id: str, saree_id: str, generation: int, pose: str, passed: bool
):
    """One pose's attempt as tasks/pose.py leaves it, then its attempt/pose events."""
    meta = {"generation": generation, "pose": pose}
    pose_rel = f"generations/{generation:04d}/poses/{pose}"
    attempt = f"{pose_rel}/attempt-1"
    npz = b"PK\x05\x06" + bytes(18)  # an empty zip archive, as np.savez of nothing would be
    store.write_artifact(saree_id, f"{pose_rel}/placement.npz", npz, kind="placement", **meta)
    prompt = {"strict_instructions": [f"{SECRET}: preserve border geometry exactly"]}
    store.write_json(
        saree_id, f"{attempt}/adapter_input.json", prompt, kind="adapter_input", attempt=1, **meta
    )
    png = pose_png(1000 * generation + int(pose))
    store.write_artifact(
        saree_id, f"{attempt}/output.png", png, kind="pose_output", attempt=1, **meta
    )
    raw = {"raw": f"{SECRET} model output"}
    store.write_json(
        saree_id, f"{attempt}/adapter_output.json", raw, kind="adapter_output", attempt=1, **meta
    )
    reasons = [] if passed else ["border drifted 9.0 px from its path (limit 6.0)"]
    region = {"region": "border_bottom", "pass": passed, "ssim": 0.93, "delta_e": 1.2}
    region |= {"pattern_score": 0.9, "reasons": reasons}
    metrics = {"pass": passed, "regions": [region]}
    store.write_json(
        saree_id, f"{attempt}/metrics.json", metrics, kind="pose_metrics", attempt=1, **meta
    )
    failures = [] if passed else ["border_distortion"]
    output = f"{attempt}/output.png"
    store.append_event(
        job_id,
        {"type": "attempt_finished", "pose": pose, "attempt": 1, "passed": passed}
        | {"failures": failures, "reasons": reasons, "attempt_dir": attempt, "output": output},
    )
    store.append_event(
        job_id,
        {"type": "pose_finished", "pose": pose, "status": "passed" if passed else "failed"}
        | {"attempts": 1, "output": output if passed else None, "attempt_dir": attempt},
    )


def run_fake_job(store: Store, job_id: str, saree_id: str, outcomes: dict[str, bool]) -> int:
    """What a finished job leaves behind: a generation, its prepared set (so extend is allowed),
    each pose's attempt, and the events up to job_finished. ``outcomes``: pose → passed."""
    generation = store.new_generation(saree_id)
    event = {"type": "job_started", "generation": generation, "poses": sorted(outcomes)}
    store.append_event(job_id, event)
    prefix = prepared_prefix(generation)
    s_flat = store.write_artifact(
        saree_id, f"{prefix}/s_flat.png", pose_png(generation), kind="s_flat", generation=generation
    )
    marker = {
        "generation": generation,
        "files": {"s_flat": s_flat.path},
        "sha256": {"s_flat": s_flat.sha256},
    }
    store.write_json(saree_id, f"{prefix}/{MARKER}", marker, kind="prepared", generation=generation)
    for pose, passed in sorted(outcomes.items()):
        write_fake_pose(store, job_id, saree_id, generation, pose, passed)
    if all(outcomes.values()):
        store.append_event(job_id, {"type": "job_finished", "status": "success"})
    else:
        failed = {"error_category": "validation_failed", "message": "Some poses failed validation."}
        store.append_event(job_id, {"type": "job_finished", "status": "failed"} | failed)
    return generation


@pytest.fixture
def fake_job():
    """``fake_job(store, job_id, saree_id, {pose: passed})`` → the generation it wrote."""
    return run_fake_job


@pytest.fixture
def finished_standard(client: TestClient, store: Store, saree_id: str) -> dict:
    """A saree whose standard job went through the API: 01, 02, 04 passed, 03 failed."""
    job = client.post(f"{API}/sarees/{saree_id}/jobs", json={"mode": "standard"}).json()
    run_fake_job(store, job["job_id"], saree_id, {"01": True, "02": True, "03": False, "04": True})
    return client.get(f"{API}/jobs/{job['job_id']}").json()


def check_no_leak(text: str) -> None:
    for needle in LEAKS:
        assert needle not in text, f"{needle!r} leaked: {text[:300]}"


def check_problem(response, status: int, category: str) -> dict:
    """The response is problem+json in our shape, with the status and category, leaking nothing."""
    assert response.status_code == status, response.content[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "category"}
    assert body["status"] == status and body["category"] == category
    assert body["type"] == f"urn:sareeflow:problem:{category}"
    assert body["title"] and body["detail"]
    check_no_leak(response.text)
    return body


@pytest.fixture(name="check_problem")
def check_problem_fixture():
    return check_problem


@pytest.fixture(name="check_no_leak")
def check_no_leak_fixture():
    return check_no_leak
