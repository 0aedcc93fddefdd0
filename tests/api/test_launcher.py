"""PrefectLauncher without a Prefect server: it must fail fast and categorised, never start a
temporary server inside the API process, and never hang a status request."""

from __future__ import annotations

import time

import anyio
import pytest

from api.launcher import STATUS_TIMEOUT_S, Launcher, PrefectLauncher
from sareeflow.errors import OrchestratorUnavailable

CLOSED_PORT_URL = "http://127.0.0.1:9/api"
"""Port 9 (discard) has no listener here: connections are refused at once."""


@pytest.fixture
def prefect_api_url():
    """Set PREFECT_API_URL for one test (Prefect reads settings from its own context)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    def use(url: str | None):
        return temporary_settings(updates={PREFECT_API_URL: url})

    return use


def test_prefect_launcher_is_a_launcher():
    assert isinstance(PrefectLauncher(), Launcher)


def test_without_an_api_url_submit_fails_fast_and_status_is_unknown(prefect_api_url):
    launcher = PrefectLauncher()
    with prefect_api_url(None):
        started = time.monotonic()
        with pytest.raises(OrchestratorUnavailable) as caught:
            anyio.run(launcher.submit, "standard", "a" * 32, "b" * 32)
        assert anyio.run(launcher.flow_run_status, "00000000-0000-0000-0000-000000000001") is None
    assert time.monotonic() - started < 1.0
    assert caught.value.http_status == 503 and "PREFECT_API_URL" in caught.value.detail
    assert "PREFECT" not in caught.value.message


def test_unreachable_server_is_orchestrator_unavailable_and_status_gives_up(prefect_api_url):
    launcher = PrefectLauncher()
    with prefect_api_url(CLOSED_PORT_URL):
        with pytest.raises(OrchestratorUnavailable):
            anyio.run(launcher.submit, "standard", "a" * 32, "b" * 32)
        started = time.monotonic()
        status = anyio.run(launcher.flow_run_status, "00000000-0000-0000-0000-000000000001")
    assert status is None
    assert time.monotonic() - started < STATUS_TIMEOUT_S + 1.0


def test_the_api_starts_importing_prefect_as_it_starts_and_requests_wait_for_it(
    tmp_path, prefect_api_url
):
    """The first job submission must not pay for ``import prefect`` on the event loop."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from sareeflow.settings import Settings

    launcher = PrefectLauncher()
    with TestClient(create_app(Settings(storage_root=tmp_path), launcher)):
        assert launcher._warm_up is not None  # started by the app's start-up
        with prefect_api_url(None):
            assert (
                anyio.run(launcher.flow_run_status, "00000000-0000-0000-0000-000000000001") is None
            )
        assert not launcher._warm_up.is_alive()  # a request waits for the import to finish
