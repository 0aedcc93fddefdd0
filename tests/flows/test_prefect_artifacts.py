"""What an operator sees in Prefect, read back through Prefect's own client (issue 7).

One standard job with a retried pose runs on the session's Prefect test server; then the flow
run, its task runs, artifacts and logs are read back the way the UI reads them.
"""

from __future__ import annotations

import json
import time
from uuid import UUID

import pytest

from sareeflow.cli import run_mode, sample_image_path
from sareeflow.joblog import CONTEXT_KEYS, read_log
from sareeflow.settings import get_settings
from sareeflow.store import Store

pytestmark = pytest.mark.slow

API_URL = "http://127.0.0.1:8765"
LOG_SHIP_TIMEOUT_S = 15
"""Prefect ships run logs in batches (every ~2 s); how long to wait for them (s)."""


def _configure(monkeypatch, root, injection: str = "") -> None:
    monkeypatch.setenv("SAREEFLOW_STORAGE_ROOT", str(root))
    monkeypatch.setenv("SAREEFLOW_FAILURE_INJECTION", injection)
    monkeypatch.setenv("SAREEFLOW_API_URL", API_URL)
    get_settings.cache_clear()


def _upload() -> str:
    from sareeflow.uploads import store_upload

    data = sample_image_path().read_bytes()
    return store_upload(data, filename="sample.jpg", settings=get_settings()).saree_id


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _artifacts(client, key: str) -> list:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


@pytest.fixture(scope="module")
def retried_job(tmp_path_factory):
    """A standard job whose pose 02 fails its first attempt (injected border distortion)."""
    root = tmp_path_factory.mktemp("artifacts")
    mp = pytest.MonkeyPatch()
    _configure(mp, root, "02:border_distortion@1")
    saree_id = _upload()
    state = run_mode(saree_id, "standard")
    yield Store(root), saree_id, state
    mp.undo()
    get_settings.cache_clear()


def test_runs_are_named_and_tagged_for_operators(retried_job):
    store, saree_id, state = retried_job
    assert state["status"] == "success" and state["retries"] == 1
    with _client() as client:
        flow_run = client.read_flow_run(UUID(state["flow_run_id"]))
        task_runs = client.read_task_runs(flow_run_filter=_flow_run_filter(state["flow_run_id"]))
    assert flow_run.name == f"standard-{saree_id}"
    tags = {f"saree:{saree_id}", "mode:standard", f"job:{state['job_id']}"}
    assert tags <= set(flow_run.tags)
    by_name = {run.name: run for run in task_runs}
    assert {"isolate", "flatten", "extract", "pose-01", "pose-02", "pose-03", "pose-04"} <= set(
        by_name
    )
    # Attempts are Prefect retries of one task run per pose, each with its named stages.
    assert by_name["pose-02"].run_count == 2 and by_name["pose-01"].run_count == 1
    for stage in ("compose", "validate"):
        assert {f"{stage}-02-attempt-1", f"{stage}-02-attempt-2"} <= set(by_name)
        assert f"{stage}-01-attempt-2" not in by_name
    for run in task_runs:
        assert tags <= set(run.tags), run.name


def test_each_pose_has_a_region_table_and_an_attempts_page_on_its_task_run(retried_job):
    store, saree_id, state = retried_job
    with _client() as client:
        pose_runs = {
            run.name: run.id
            for run in client.read_task_runs(flow_run_filter=_flow_run_filter(state["flow_run_id"]))
        }
        tables = {
            pose: _artifacts(client, f"saree-{saree_id}-pose-{pose}-checks")
            for pose in ("01", "02", "03", "04")
        }
        pages = {pose: _artifacts(client, f"saree-{saree_id}-pose-{pose}-attempts") for pose in ("01", "02", "03", "04")}  # fmt: skip
    for pose in tables:
        assert len(tables[pose]) == 1 and tables[pose][0].type == "table"
        assert tables[pose][0].task_run_id == pose_runs[f"pose-{pose}"]
        assert len(pages[pose]) == 1 and pages[pose][0].type == "markdown"
    rows = json.loads(tables["02"][0].data)
    metrics = [
        store.read_json(saree_id, f"generations/0001/poses/02/attempt-{n}/metrics.json")
        for n in (1, 2)
    ]
    assert {row["attempt"] for row in rows} == {1, 2}
    assert len(rows) == sum(len(m["regions"]) for m in metrics)
    failing = [row for row in rows if row["pass"] == "FAIL"]
    assert failing and all(row["attempt"] == 1 for row in failing)
    assert "border_distortion" in failing[0]["failures"]
    first_region = metrics[0]["regions"][0]
    first_row = next(r for r in rows if r["attempt"] == 1 and r["region"] == first_region["region"])
    assert first_row["delta_e"] == pytest.approx(first_region["delta_e"], abs=1e-3)

    page = pages["02"][0].data
    for n in (1, 2):
        url = f"{API_URL}/api/v1/sarees/{saree_id}/artifacts/generations/0001/poses/02/attempt-{n}/output.png"
        assert f'src="{url}"' in page
    for reason in metrics[0]["reasons"]:
        assert reason in page
    assert "Attempt 1: failed (border distortion)" in page and "Attempt 2: passed" in page


def test_job_progress_reaches_100_and_the_summary_links_the_contact_sheet(retried_job):
    store, saree_id, state = retried_job
    with _client() as client:
        progress = _artifacts(client, f"job-{state['job_id']}-progress")
        summary = _artifacts(client, f"saree-{saree_id}-summary")
    assert len(progress) == 1 and progress[0].type == "progress"
    assert float(progress[0].data) == pytest.approx(100.0)
    assert "4/4 poses" in progress[0].description
    assert len(summary) == 1
    sheet_url = f"{API_URL}/api/v1/sarees/{saree_id}/artifacts/generations/0001/contact_sheet.png"
    assert sheet_url in summary[0].data
    assert "# Retry log: generation 1 (standard)" in summary[0].data


def test_logs_carry_job_saree_pose_and_attempt_on_disk_and_in_prefect(retried_job):
    store, saree_id, state = retried_job
    lines = read_log(store, state["job_id"])
    assert lines and all(set(CONTEXT_KEYS) <= set(line) for line in lines)
    assert all(line["job"] == state["job_id"] and line["saree"] == saree_id for line in lines)
    failed = [
        line
        for line in lines
        if line["event"] == "attempt_finished" and line["pose"] == "02" and line["attempt"] == 1
    ]
    assert len(failed) == 1 and failed[0]["passed"] is False
    assert failed[0]["prefect_run_count"] == 1 and failed[0]["failures"] == ["border_distortion"]
    events = [line["event"] for line in lines]
    assert events[0] == "job_started" and events[-1] == "job_finished"

    shipped = _prefect_json_logs(state["flow_run_id"], want=len(lines))
    retried = [
        entry
        for entry in shipped
        if entry.get("event") == "attempt_finished" and entry["pose"] == "02"
    ]
    assert {entry["attempt"] for entry in retried} == {1, 2}
    assert all(entry["job"] == state["job_id"] for entry in shipped)


def test_the_generation_has_a_readable_retry_log_and_a_contact_sheet(retried_job):
    store, saree_id, _ = retried_job
    kinds = {r.path: r.kind for r in store.artifacts(saree_id)}
    assert kinds["generations/0001/retry_log.md"] == "retry_log_md"
    assert kinds["generations/0001/contact_sheet.png"] == "contact_sheet"
    text = store.read_bytes(saree_id, "generations/0001/retry_log.md").decode()
    assert "| 02 | Pallu over shoulder | passed | 2 |" in text
    assert "- Attempt 1: failed (border distortion)" in text


def test_a_prefect_api_that_refuses_artifacts_does_not_fail_the_job(tmp_path, monkeypatch):
    import prefect.artifacts

    import flows.pipeline

    def refuse(*args, **kwargs):
        raise RuntimeError("Prefect API refused the artifact")

    monkeypatch.setattr(prefect.artifacts.Artifact, "create", refuse)
    monkeypatch.setattr(flows.pipeline, "tag_flow_run", refuse)
    _configure(monkeypatch, tmp_path)
    state = run_mode(_upload(), "standard")
    assert state["status"] == "success", state
    warnings = [
        line
        for line in read_log(Store(tmp_path), state["job_id"])
        if line["event"] == "artifact_failed"
    ]
    # progress, 2 per pose, summary (and the flow-run tags): each refused, each logged.
    assert len(warnings) >= 1 + 2 * 4 + 1
    assert all(line["level"] == "warning" for line in warnings)


def _flow_run_filter(flow_run_id: str):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    return FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))


def _prefect_json_logs(flow_run_id: str, *, want: int) -> list[dict]:
    """The flow run's JSON log lines as Prefect stored them (waits for the batched shipping)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(flow_run_id)]))
    deadline = time.monotonic() + LOG_SHIP_TIMEOUT_S
    parsed: list[dict] = []
    while time.monotonic() < deadline:
        with _client() as client:
            logs = client.read_logs(log_filter=log_filter, limit=200)
        parsed = []
        for log in logs:
            try:
                entry = json.loads(log.message)
            except ValueError:
                continue  # Prefect's own lines ("Finished in state ...")
            if isinstance(entry, dict) and "job" in entry:
                parsed.append(entry)
        if len(parsed) >= want:
            break
        time.sleep(0.5)
    return parsed
