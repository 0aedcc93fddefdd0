"""A standard job through the http compose adapter against the fake service on a real socket.

The fake casts colours unless 'white_balance' is forbidden, which only the colour_shift retry
rule adds: every pose must fail validation on attempt 1 and pass on attempt 2, through the real
Prefect flow, the retrying pose task and the constraints read back from the store.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from adapters.fake_service import Behaviour, create_app
from sareeflow.cli import run_mode, sample_image_path
from sareeflow.settings import get_settings
from sareeflow.store import Store

pytestmark = pytest.mark.slow

PORT = 8097
URL = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def fake_service() -> Iterator:
    """The colour-casting fake served on 127.0.0.1:8097, for one test."""
    with _serve(Behaviour(cast_unless_forbidden="white_balance")) as app:
        yield app


@contextlib.contextmanager
def _serve(behaviour: Behaviour) -> Iterator:
    """The fake served by uvicorn on 127.0.0.1:8097 in a thread."""
    app = create_app(behaviour)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=PORT, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fake-image-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "fake service did not start"
        time.sleep(0.05)
    assert httpx.get(f"{URL}/healthz").json()["ok"] is True
    yield app
    server.should_exit = True
    thread.join(timeout=10)


def test_standard_job_over_http_retries_the_colour_cast_with_a_constraint(
    tmp_path: Path, monkeypatch, fake_service
):
    from sareeflow.uploads import store_upload

    monkeypatch.setenv("SAREEFLOW_STORAGE_ROOT", str(tmp_path))
    monkeypatch.setenv("SAREEFLOW_FAILURE_INJECTION", "")
    monkeypatch.setenv("SAREEFLOW_COMPOSE_ADAPTER", "http")
    monkeypatch.setenv("SAREEFLOW_REMOTE_ADAPTER_URL", URL)
    get_settings.cache_clear()
    try:
        saree_id = store_upload(
            sample_image_path().read_bytes(), filename="sample.jpg", settings=get_settings()
        ).saree_id
        state = run_mode(saree_id, "standard")
    finally:
        get_settings.cache_clear()

    assert state["status"] == "success", state
    assert [p["pose"] for p in state["poses"]] == ["01", "02", "03", "04"]
    assert all(p["status"] == "passed" and p["attempts"] == 2 for p in state["poses"])
    store = Store(tmp_path)
    for pose in ("01", "02", "03", "04"):
        base = f"generations/0001/poses/{pose}"
        first = store.read_json(saree_id, f"{base}/attempt-1/metrics.json")
        assert first["pass"] is False and "color_shift" in first["failures"]
        first_in = store.read_json(saree_id, f"{base}/attempt-1/adapter_input.json")
        second_in = store.read_json(saree_id, f"{base}/attempt-2/adapter_input.json")
        assert first_in["adapter"] == "http_compose"
        assert "white_balance" not in first_in["forbidden_changes"]
        assert "white_balance" in second_in["forbidden_changes"]  # the colour_shift rule
        assert any("colour shift" in line for line in second_in["strict_instructions"])
        second_out = store.read_json(saree_id, f"{base}/attempt-2/adapter_output.json")
        assert second_out["info"]["adapter"] == "http_compose"
        assert second_out["info"]["service"]["adapter"] == "local_compose"
        assert store.read_json(saree_id, f"{base}/attempt-2/metrics.json")["pass"] is True
    seen = fake_service.state.log.seen
    assert len(seen) == 8 and all(call["stage"] == "compose" for call in seen)


def test_a_remote_flatten_that_answers_503_once_is_retried_by_prefect(tmp_path, monkeypatch):
    from sareeflow.uploads import store_upload

    monkeypatch.setenv("SAREEFLOW_STORAGE_ROOT", str(tmp_path))
    monkeypatch.setenv("SAREEFLOW_FAILURE_INJECTION", "")
    monkeypatch.setenv("SAREEFLOW_FLATTEN_ADAPTER", "http")
    monkeypatch.setenv("SAREEFLOW_REMOTE_ADAPTER_URL", URL)
    get_settings.cache_clear()
    with _serve(Behaviour(fail_first=1)) as app:
        try:
            saree_id = store_upload(
                sample_image_path().read_bytes(), filename="sample.jpg", settings=get_settings()
            ).saree_id
            state = run_mode(saree_id, "standard")
        finally:
            get_settings.cache_clear()
    assert state["status"] == "success", state
    assert app.state.log.calls == 2  # one 503, one rendered flatten
    store = Store(tmp_path)
    flatten = store.read_json(saree_id, "generations/0001/prepared/flatten.json")
    assert flatten["adapter"] == "http_flatten"
    logged = [r for r in store.artifacts(saree_id) if r.path.endswith("flatten_adapter_input.json")]
    assert len(logged) == 1  # the retry reused the logged input, nothing written twice
