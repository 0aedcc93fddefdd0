"""The real local stack (Prefect server, deployment runner, API) on loopback, driven like a
frontend and an engineer would: HTTP only, and the Prefect CLI (issue 3's "must show")."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from sareeflow.cli import sample_image_path
from sareeflow.stack import Stack

pytestmark = pytest.mark.slow

# Ports away from a developer's own `make run` (4200/8000).
PREFECT_PORT, API_PORT = 4291, 8091


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack_root")
    home = tmp_path_factory.mktemp("prefect_home")
    env = {"SAREEFLOW_STORAGE_ROOT": str(root), "PREFECT_HOME": str(home)}
    with Stack(prefect_port=PREFECT_PORT, api_port=API_PORT, env=env) as running:
        yield running, root


def _api(stack_fixture) -> httpx.Client:
    return httpx.Client(base_url=f"{stack_fixture[0].api_url}/api/v1", timeout=30)


@pytest.fixture
def client(stack):
    with _api(stack) as http:
        yield http


def _upload(client: httpx.Client) -> str:
    response = client.post(
        "/sarees", files={"file": ("saree.jpg", sample_image_path().read_bytes(), "image/jpeg")}
    )
    assert response.status_code == 201, response.text
    return response.json()["saree_id"]


def _wait_terminal(client: httpx.Client, job_id: str, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = client.get(f"/jobs/{job_id}").json()
        if state["status"] in ("success", "failed"):
            return state
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {state}")


def test_full_standard_job_through_http_alone(stack, client):
    saree_id = _upload(client)
    accepted = client.post(f"/sarees/{saree_id}/jobs", json={"mode": "standard"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] in ("queued", "running")
    state = _wait_terminal(client, accepted.json()["job_id"])
    assert state["status"] == "success", state
    assert state["progress"] == {"done": 4, "total": 4}

    gallery = client.get(f"/sarees/{saree_id}/gallery").json()
    shown = [pose for pose in gallery["poses"] if pose["status"] == "passed"]
    assert [pose["pose"] for pose in shown] == ["01", "02", "03", "04"]
    assert gallery["actions"]["extend"] is True and gallery["actions"]["retry_failed"] is False

    listing = client.get(f"/sarees/{saree_id}/artifacts").json()["artifacts"]
    by_url = {item["url"]: item for item in listing}
    image_url = shown[0]["image_url"]
    download = client.get(f"{stack[0].api_url}{image_url}")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == by_url[image_url]["sha256"]
    assert download.headers["etag"].strip('"') == by_url[image_url]["sha256"]


def test_prefect_cli_deployment_run_is_seen_by_the_api(stack, client):
    saree_id = _upload(client)
    env = {**os.environ, "PREFECT_API_URL": stack[0].prefect_api_url}
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "deployment", "run", "standard/sareeflow",
         "--param", f"saree_id={saree_id}"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 120
    jobs = []
    while time.monotonic() < deadline:
        jobs = client.get(f"/sarees/{saree_id}").json()["jobs"]
        if jobs and jobs[0]["status"] in ("success", "failed"):
            break
        time.sleep(0.5)
    assert len(jobs) == 1 and jobs[0]["mode"] == "standard"
    assert _wait_terminal(client, jobs[0]["job_id"])["status"] == "success"


def test_ten_concurrent_requests_make_one_job_and_one_generation(stack, client):
    saree_id = _upload(client)

    def submit(_: int) -> int:
        with _api(stack) as own:
            return own.post(f"/sarees/{saree_id}/jobs", json={"mode": "standard"}).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = sorted(pool.map(submit, range(10)))
    assert codes == [202] + [409] * 9
    jobs = client.get(f"/sarees/{saree_id}").json()["jobs"]
    assert len(jobs) == 1
    _wait_terminal(client, jobs[0]["job_id"])
    generations = Path(stack[1], "sarees", saree_id, "generations")
    assert sorted(p.name for p in generations.iterdir()) == ["0001"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "category"),
    [
        ("get", "/jobs/0123456789abcdef0123456789abcdef", None, 404, "not_found"),
        ("get", "/jobs/not-an-id", None, 404, "not_found"),
        ("get", "/sarees/..%2F..%2Fetc/gallery", None, 404, "not_found"),
        (
            "post",
            "/sarees/0123456789abcdef0123456789abcdef/jobs",
            {"mode": "standard"},
            404,
            "not_found",
        ),
    ],
)
def test_bad_requests_get_categorised_problems(stack, client, method, path, body, status, category):
    response = client.request(method.upper(), path, json=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["category"] == category
    assert "Traceback" not in response.text


def test_bad_mode_and_non_image_upload_are_invalid_input(stack, client):
    saree_id = _upload(client)
    bad_mode = client.post(f"/sarees/{saree_id}/jobs", json={"mode": "everything"})
    assert bad_mode.status_code == 422 and bad_mode.json()["category"] == "invalid_input"
    not_image = client.post("/sarees", files={"file": ("x.jpg", b"<html>hi</html>", "image/jpeg")})
    assert not_image.status_code == 422 and not_image.json()["category"] == "invalid_input"


def _cli(stack_fixture, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SAREEFLOW_API_URL": stack_fixture[0].api_url,
        "SAREEFLOW_STORAGE_ROOT": str(stack_fixture[1]),
    }
    return subprocess.run(
        [sys.executable, "-m", "sareeflow.cli", *args, "--json"],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_cli_generate_wait_status_and_gallery_talk_to_the_stack(stack, client):
    import json

    saree_id = _upload(client)
    done = _cli(stack, "generate", saree_id, "--mode", "standard", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    state = json.loads(done.stdout)
    assert state["status"] == "success" and state["flow_run_id"]  # the stack's deployment ran it
    for pose in state["poses"]:  # DESIGN §9's job-state shape, the stack sharing this store
        assert Path(pose["output"]).is_file() and Path(pose["attempt_dir"]).is_dir()

    status = _cli(stack, "status", state["job_id"])
    assert status.returncode == 0 and "Reading the local store" not in status.stderr
    assert json.loads(status.stdout)["status"] == "success"

    gallery = json.loads(_cli(stack, "gallery", saree_id).stdout)
    assert [p["image_url"] is not None for p in gallery["poses"]] == [True] * 4 + [False] * 8
    assert gallery["actions"]["extend"] is True

    unknown = _cli(stack, "status", "0123456789abcdef0123456789abcdef")
    assert unknown.returncode == 2
    assert json.loads(unknown.stdout)["error"]["category"] == "not_found"
