"""sareeflow.remote against the real app (TestClient is an httpx.Client), no network."""

from __future__ import annotations

import httpx
import pytest

from sareeflow.errors import Conflict, NotFound, OrchestratorUnavailable
from sareeflow.remote import api_base, generate_remote, job_status_remote

BASE = "http://testserver"


def test_generate_without_wait_returns_the_queued_job(client, launcher, saree_id):
    state = generate_remote(BASE, saree_id, "standard", wait=False, client=client)
    assert state["status"] == "queued" and state["mode"] == "standard"
    assert launcher.submissions == [("standard", saree_id, state["job_id"])]
    assert job_status_remote(BASE, state["job_id"], client=client) == state


def test_generate_with_wait_polls_until_the_job_ends(client, launcher, store, saree_id, fake_job):
    polls = []
    status = launcher.flow_run_status

    async def finish_on_second_poll(flow_run_id: str) -> str | None:
        polls.append(flow_run_id)
        if len(polls) == 2:  # the "flow" finishes while the CLI is polling
            job_id = store.saree_job_ids(saree_id)[0]
            fake_job(store, job_id, saree_id, {"01": True, "02": True, "03": True, "04": True})
        return await status(flow_run_id)

    launcher.flow_run_status = finish_on_second_poll
    state = generate_remote(
        f"{BASE}/api/v1/", saree_id, "standard", wait=True, poll_s=0.01, client=client
    )
    assert state["status"] == "success" and len(polls) == 2
    assert [p["status"] for p in state["poses"]] == ["passed"] * 4
    assert all(p["image_url"].startswith("/api/v1/sarees/") for p in state["poses"])


def test_wait_gives_up_after_the_timeout_with_the_last_state(client, saree_id):
    state = generate_remote(
        BASE, saree_id, "standard", wait=True, poll_s=0.01, timeout_s=0.05, client=client
    )
    assert state["status"] == "queued"


def test_api_problems_come_back_as_the_same_error(client, saree_id):
    generate_remote(BASE, saree_id, "standard", wait=False, client=client)
    with pytest.raises(Conflict, match="already has a job in progress"):
        generate_remote(BASE, saree_id, "standard", wait=False, client=client)
    with pytest.raises(NotFound, match="No saree with that id"):
        generate_remote(BASE, "0" * 32, "standard", wait=False, client=client)


def test_unreachable_api_is_orchestrator_unavailable():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(OrchestratorUnavailable, match="not reachable"):
            generate_remote("http://127.0.0.1:8000", "0" * 32, "standard", wait=False, client=http)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:8000", "http://h:8000/api/v1"),
        ("http://h:8000/", "http://h:8000/api/v1"),
        ("http://h:8000/api/v1", "http://h:8000/api/v1"),
        ("http://h/prefix/api/v1/", "http://h/prefix/api/v1"),
    ],
)
def test_api_base_accepts_the_server_or_the_api_url(given, expected):
    assert api_base(given) == expected
