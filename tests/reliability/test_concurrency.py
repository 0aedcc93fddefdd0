"""Issue 6, item 4: many sarees at once, and many requests on each, through the real stack.

Five sarees (different photos) each get a standard job at the same moment, and every one of
those requests comes with duplicates fired at the same instant for the same saree. Each saree
must get exactly one job (the others a categorised 409), every job must finish with all poses
passed (pose 02 is damaged on its first attempt by the stack's failure injection, so every
job also retries), and no saree may ever have had two jobs running or two generations. While
the jobs run, more duplicates keep arriving and must all be refused.
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from invariants import (
    API,
    api_vs_files_violations,
    manifest_violations,
    overlap_violations,
    problem_violations,
    rebuilt,
    served_violations,
)
from live import synthetic_photos, upload, wait_terminal

from sareeflow.cli import sample_image_path
from sareeflow.store import Store

pytestmark = pytest.mark.slow

SAREES = 5
DUPLICATES = 4
"""Extra requests per saree sent at the same instant as the one that should win."""


def test_many_sarees_at_once_one_job_and_one_generation_each(flow_stack, flow_client):
    stack, root = flow_stack
    store = Store(root)
    photos = [sample_image_path().read_bytes(), *synthetic_photos(SAREES - 1)]
    sarees = [upload(flow_client, photo, f"many-{i}.jpg") for i, photo in enumerate(photos)]
    requests = [saree for saree in sarees for _ in range(DUPLICATES + 1)]
    barrier = threading.Barrier(len(requests))

    def submit(saree_id: str) -> tuple[str, httpx.Response]:
        with httpx.Client(base_url=f"{stack.api_url}{API}", timeout=60) as own:
            barrier.wait()  # every request leaves at the same moment
            return saree_id, own.post(f"/sarees/{saree_id}/jobs", json={"mode": "standard"})

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        answers = list(pool.map(submit, requests))

    codes: dict[str, list[int]] = collections.defaultdict(list)
    jobs = []
    violations = []
    for saree_id, response in answers:
        codes[saree_id].append(response.status_code)
        if response.status_code == 202:
            jobs.append(response.json()["job_id"])
        else:
            violations += problem_violations(response, (409,), "conflict")
    assert all(sorted(c) == [202] + [409] * DUPLICATES for c in codes.values()), codes
    assert len(jobs) == SAREES

    refused_while_running = _watch_until_done(flow_client, store, sarees, jobs, violations)
    finished = wait_terminal(flow_client, jobs)

    for job_id, state in finished.items():
        poses = [(p["pose"], p["status"], p["attempts"]) for p in state["poses"]]
        assert state["status"] == "success", (state["error"], poses)
        assert state["progress"] == {"done": 4, "total": 4}
        assert state["retries"] >= 1, state  # pose 02's injected defect was caught and retried
        assert state["generation"] == 1
        violations += api_vs_files_violations(state, rebuilt(root, job_id))
    for saree_id in sarees:
        generations = Path(root, "sarees", saree_id, "generations")
        assert sorted(p.name for p in generations.iterdir()) == ["0001"]
        violations += manifest_violations(store, saree_id)
        violations += overlap_violations(store, saree_id)
        violations += served_violations(flow_client, store, saree_id)
    print(
        f"\nconcurrency: {SAREES} sarees x {DUPLICATES + 1} simultaneous requests -> "
        f"{len(jobs)} jobs, all success; {refused_while_running} more requests refused while running"
    )
    assert not violations, violations[:10]
    assert refused_while_running > 0


def _watch_until_done(
    client: httpx.Client, store: Store, sarees: list[str], jobs: list[str], violations: list
) -> int:
    """While the jobs run: at most one unfinished job and one generation per saree, and every
    new request for a busy saree refused. Returns how many were refused."""
    refused = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        busy = 0
        for saree_id in sarees:
            saree = client.get(f"/sarees/{saree_id}").json()
            unfinished = [j for j in saree["jobs"] if j["status"] not in ("success", "failed")]
            if len(unfinished) > 1:
                violations.append(f"{saree_id}: {len(unfinished)} unfinished jobs at once")
            if len(store.generations(saree_id)) > 1:
                violations.append(f"{saree_id}: a second generation appeared")
            if unfinished:
                busy += 1
                # retry_failed: refused while a job runs, and still refused (nothing failed)
                # if the job ends between the two requests, so the check cannot race.
                again = client.post(f"/sarees/{saree_id}/jobs", json={"mode": "retry_failed"})
                violations += problem_violations(again, (409,), "conflict")
                refused += "in progress" in again.json().get("detail", "")
        if not busy:
            return refused
        time.sleep(1.0)  # watching must not starve the jobs of CPU
    raise AssertionError("jobs did not finish")


def test_many_pollers_of_one_job_share_one_prefect_read(monkeypatch):
    """``make bench-load`` found every poll of a running job asking Prefect again: with 20
    pollers the reads queued past the status timeout (p50 1.8 s). Concurrent pollers of one
    run now share one read, and its answer for ``STATUS_FRESH_S``; other runs are read apart."""
    import anyio
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from api.launcher import STATUS_FRESH_S, PrefectLauncher

    reads: list[str] = []

    async def slow_read(self, flow_run_id: str) -> str:
        reads.append(flow_run_id)
        await anyio.sleep(0.2)  # a Prefect server under load
        return "RUNNING"

    monkeypatch.setattr(PrefectLauncher, "_read_state", slow_read)
    launcher = PrefectLauncher()
    runs = ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"]

    async def poll(count: int) -> list[str | None]:
        answers: list[str | None] = []

        async def one(run_id: str) -> None:
            answers.append(await launcher.flow_run_status(run_id))

        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(one, runs[index % 2])
        return answers

    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert anyio.run(poll, 100) == ["RUNNING"] * 100
        assert sorted(reads) == runs  # one read per run, not 100
        # The answers age past STATUS_FRESH_S: the next wave reads again, once per run.
        old = {
            run: (at - 2 * STATUS_FRESH_S, state) for run, (at, state) in launcher._states.items()
        }
        launcher._states.update(old)
        assert anyio.run(poll, 10) == ["RUNNING"] * 10
    assert len(reads) == 4
