"""POST /sarees/{id}/jobs and GET /jobs/{id}, with a fake launcher (no Prefect)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from sareeflow.errors import OrchestratorUnavailable
from sareeflow.jobs import job_state

API = "/api/v1"


def _jobs_url(saree_id: str) -> str:
    return f"{API}/sarees/{saree_id}/jobs"


def test_job_is_accepted_at_once_linked_to_its_flow_run(client, launcher, store, saree_id):
    response = client.post(_jobs_url(saree_id), json={"mode": "standard"})
    assert response.status_code == 202, response.text
    body = response.json()
    job_id = body["job_id"]
    assert response.headers["location"] == f"{API}/jobs/{job_id}"
    assert launcher.submissions == [("standard", saree_id, job_id)]
    assert (
        body["status"] == "queued" and body["mode"] == "standard" and body["saree_id"] == saree_id
    )
    assert body["flow_run_id"] == "00000000-0000-0000-0000-000000000001"
    assert (
        body["progress"] == {"done": 0, "total": 0}
        and body["poses"] == []
        and body["error"] is None
    )
    assert job_state(store, job_id).flow_run_id == body["flow_run_id"]  # recorded in the event log
    assert client.get(f"{API}/jobs/{job_id}").json() == body


def test_second_request_while_queued_is_409_and_not_submitted(
    client, launcher, saree_id, check_problem
):
    assert client.post(_jobs_url(saree_id), json={"mode": "standard"}).status_code == 202
    second = client.post(_jobs_url(saree_id), json={"mode": "standard"})
    body = check_problem(second, 409, "conflict")
    assert "in progress" in body["detail"]
    assert len(launcher.submissions) == 1


def test_ten_concurrent_requests_admit_exactly_one(client, launcher, store, saree_id):
    barrier = threading.Barrier(10)

    def request(_: int) -> int:
        barrier.wait()
        return client.post(_jobs_url(saree_id), json={"mode": "standard"}).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = sorted(pool.map(request, range(10)))
    assert codes == [202] + [409] * 9
    assert len(launcher.submissions) == 1
    assert len(store.saree_job_ids(saree_id)) == 1


@pytest.mark.parametrize(
    "payload",
    [{"mode": "<script>wild</script>"}, {"mode": 3}, {}, {"mode": "standard", "poses": ["01"]}],
)
def test_bad_job_request_is_422_without_echoing_it(
    client, launcher, store, saree_id, check_problem, payload
):
    response = client.post(_jobs_url(saree_id), json=payload)
    body = check_problem(response, 422, "invalid_input")
    assert "<script>" not in response.text and "poses" not in response.text
    if "poses" not in payload:
        assert "standard, extend, retry_failed" in body["detail"]
    assert launcher.submissions == [] and store.saree_job_ids(saree_id) == []


def test_malformed_json_is_422(client, saree_id, check_problem):
    response = client.post(
        _jobs_url(saree_id), content=b'{"mode": ', headers={"content-type": "application/json"}
    )
    body = check_problem(response, 422, "invalid_input")
    assert body["detail"] == "The request body is not valid JSON."


def test_extend_before_standard_is_409_and_creates_no_job(
    client, launcher, store, saree_id, check_problem
):
    body = check_problem(client.post(_jobs_url(saree_id), json={"mode": "extend"}), 409, "conflict")
    assert "standard" in body["detail"]
    assert launcher.submissions == [] and store.saree_job_ids(saree_id) == []


def test_retry_failed_with_nothing_failed_is_409(client, saree_id, check_problem):
    check_problem(client.post(_jobs_url(saree_id), json={"mode": "retry_failed"}), 409, "conflict")


@pytest.mark.parametrize("bad_id", ["f" * 32, "nope", "F" * 32, "0" * 33])
def test_jobs_for_unknown_or_malformed_saree_are_404(client, launcher, check_problem, bad_id):
    check_problem(client.post(_jobs_url(bad_id), json={"mode": "standard"}), 404, "not_found")
    assert launcher.submissions == []


@pytest.mark.parametrize("bad_id", ["e" * 32, "1234", "E" * 32, "..%2F..%2Fetc"])
def test_unknown_or_malformed_job_is_404(client, check_problem, bad_id):
    check_problem(client.get(f"{API}/jobs/{bad_id}"), 404, "not_found")


def test_orchestrator_down_is_503_and_the_job_does_not_block_the_saree(
    client, launcher, saree_id, check_problem
):
    launcher.submit_error = OrchestratorUnavailable(
        "The orchestrator is unavailable.", detail="conn refused"
    )
    body = check_problem(
        client.post(_jobs_url(saree_id), json={"mode": "standard"}), 503, "orchestrator_unavailable"
    )
    assert "conn refused" not in body["detail"]
    jobs = client.get(f"{API}/sarees/{saree_id}").json()["jobs"]
    assert [j["status"] for j in jobs] == ["failed"]
    failed = client.get(jobs[0]["url"]).json()
    assert failed["error"]["category"] == "orchestrator_unavailable"
    launcher.submit_error = None  # back up: the saree takes a new job at once
    assert client.post(_jobs_url(saree_id), json={"mode": "standard"}).status_code == 202


def test_launcher_bug_is_500_internal_and_fails_the_job(client, launcher, saree_id, check_problem):
    launcher.submit_error = RuntimeError("/srv/secret/path exploded")
    body = check_problem(
        client.post(_jobs_url(saree_id), json={"mode": "standard"}), 500, "internal"
    )
    assert "secret" not in body["detail"]
    job = client.get(client.get(f"{API}/sarees/{saree_id}").json()["jobs"][0]["url"]).json()
    assert job["status"] == "failed" and job["error"]["category"] == "internal"


@pytest.mark.parametrize(
    ("prefect_state", "category"),
    [("CRASHED", "crashed"), ("FAILED", "crashed"), ("CANCELLED", "cancelled")],
)
def test_run_that_died_in_prefect_ends_the_job_failed(
    client, launcher, saree_id, prefect_state, category
):
    job = client.post(_jobs_url(saree_id), json={"mode": "standard"}).json()
    launcher.states[job["flow_run_id"]] = prefect_state
    body = client.get(f"{API}/jobs/{job['job_id']}").json()
    assert body["status"] == "failed" and body["error"]["category"] == category
    assert client.post(_jobs_url(saree_id), json={"mode": "standard"}).status_code == 202


def test_run_cancelled_in_prefect_never_blocks_the_next_job_unpolled(client, launcher, saree_id):
    job = client.post(_jobs_url(saree_id), json={"mode": "standard"}).json()
    assert client.post(_jobs_url(saree_id), json={"mode": "standard"}).status_code == 409
    launcher.states[job["flow_run_id"]] = "CANCELLED"  # in the Prefect UI, before it started
    assert client.post(_jobs_url(saree_id), json={"mode": "standard"}).status_code == 202
    ended = client.get(f"{API}/jobs/{job['job_id']}").json()
    assert ended["status"] == "failed" and ended["error"]["category"] == "cancelled"


@pytest.mark.parametrize("prefect_state", ["SCHEDULED", "PENDING", "RUNNING", None])
def test_live_or_unknown_prefect_state_leaves_the_job_alone(
    client, launcher, saree_id, prefect_state
):
    job = client.post(_jobs_url(saree_id), json={"mode": "standard"}).json()
    launcher.states[job["flow_run_id"]] = prefect_state
    assert client.get(f"{API}/jobs/{job['job_id']}").json()["status"] == "queued"


def test_prefect_unreachable_returns_the_stores_state(client, launcher, saree_id):
    job = client.post(_jobs_url(saree_id), json={"mode": "standard"}).json()
    launcher.status_error = ConnectionError("prefect is down")
    response = client.get(f"{API}/jobs/{job['job_id']}")
    assert response.status_code == 200 and response.json()["status"] == "queued"


def test_finished_prefect_run_never_overrides_the_store(
    client, launcher, store, saree_id, fake_job
):
    job = client.post(_jobs_url(saree_id), json={"mode": "standard"}).json()
    fake_job(store, job["job_id"], saree_id, {"01": True, "02": True, "03": True, "04": True})
    launcher.states[job["flow_run_id"]] = "CRASHED"  # e.g. the process died after job_finished
    body = client.get(f"{API}/jobs/{job['job_id']}").json()
    assert body["status"] == "success" and body["error"] is None


def test_running_job_without_a_live_runner_reads_as_crashed(client, store, saree_id):
    job = client.post(_jobs_url(saree_id), json={"mode": "standard"}).json()
    event = {"type": "job_started", "generation": 1, "poses": ["01", "02", "03", "04"]}
    store.append_event(job["job_id"], event)  # ...and no process holds the run lock
    body = client.get(f"{API}/jobs/{job['job_id']}").json()
    assert body["status"] == "failed" and body["error"]["category"] == "crashed"


def test_running_job_with_a_live_runner_stays_running(client, store, saree_id):
    job = client.post(_jobs_url(saree_id), json={"mode": "standard"}).json()
    with store.lock(saree_id, "run", blocking=False):
        event = {"type": "job_started", "generation": 1, "poses": ["01", "02", "03", "04"]}
        store.append_event(job["job_id"], event)
        store.append_event(job["job_id"], {"type": "stage_started", "stage": "isolate"})
        body = client.get(f"{API}/jobs/{job['job_id']}").json()
    assert body["status"] == "running" and body["current_stage"] == "isolate"
    assert body["progress"] == {"done": 0, "total": 4}
    assert [p["status"] for p in body["poses"]] == ["pending"] * 4


def test_finished_job_state_has_image_urls_not_paths(
    client, saree_id, finished_standard, check_no_leak
):
    body = finished_standard
    assert body["status"] == "failed" and body["error"]["category"] == "validation_failed"
    assert body["generation"] == 1 and body["progress"] == {"done": 4, "total": 4}
    poses = {p["pose"]: p for p in body["poses"]}
    assert set(poses["01"]) == {"pose", "label", "status", "attempts", "image_url", "reasons"}
    assert poses["03"]["status"] == "failed" and poses["03"]["image_url"] is None
    assert poses["03"]["reasons"] == ["border drifted 9.0 px from its path (limit 6.0)"]
    url = poses["01"]["image_url"]
    assert (
        url == f"{API}/sarees/{saree_id}/artifacts/generations/0001/poses/01/attempt-1/output.png"
    )
    assert client.get(url).status_code == 200
    check_no_leak(str(body))


@pytest.mark.parametrize("mode", ["extend", "retry_failed"])
def test_after_standard_extend_and_retry_failed_are_accepted(
    client, launcher, saree_id, finished_standard, mode
):
    response = client.post(_jobs_url(saree_id), json={"mode": mode})
    assert response.status_code == 202, response.text
    assert launcher.submissions[-1] == (mode, saree_id, response.json()["job_id"])
