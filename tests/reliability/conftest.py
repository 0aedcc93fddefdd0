"""Fixtures for the reliability and security tests (issue 6).

The real stack (Prefect server, deployment runner, uvicorn API) is started once per session on
ports of its own (4293/8093: away from ``make run`` and the other end-to-end tests), and only
when a slow test asks for it. Its upload cap is lowered to :data:`UPLOAD_CAP_BYTES` so the
hostile corpus means the same thing through TestClient and through the socket.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import httpx
import pytest
from hostile import UPLOAD_CAP_BYTES
from invariants import API

from sareeflow.cli import sample_image_path
from sareeflow.settings import Settings
from sareeflow.stack import Stack

with warnings.catch_warnings():
    # Starlette asks for the httpx2 fork at import time; plain httpx is what is installed.
    warnings.filterwarnings("ignore", message=".*install `httpx2`", category=UserWarning)
    from fastapi.testclient import TestClient

PREFECT_PORT, API_PORT = 4293, 8093


@pytest.fixture
def hostile_settings(storage_root: Path) -> Settings:
    return Settings(storage_root=storage_root, max_upload_bytes=UPLOAD_CAP_BYTES)


@pytest.fixture
def app_client(hostile_settings: Settings):
    """A TestClient over a fresh app and store (no Prefect: uploads and reads only)."""
    from api.main import create_app

    with TestClient(create_app(hostile_settings), raise_server_exceptions=False) as client:
        yield client


def _stack(tmp_path_factory, name: str, ports: tuple[int, int], env: dict[str, str]):
    """(stack, storage root) of a real stack with a fresh store and Prefect home."""
    root = tmp_path_factory.mktemp(f"{name}_root")
    env = {
        "SAREEFLOW_STORAGE_ROOT": str(root),
        "PREFECT_HOME": str(tmp_path_factory.mktemp(f"{name}_prefect_home")),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        **env,
    }
    with Stack(prefect_port=ports[0], api_port=ports[1], env=env) as stack:
        yield stack, root


@pytest.fixture(scope="session")
def reliability_stack(tmp_path_factory):
    """(stack, storage root): the real stack, shared by every slow test of this folder."""
    env = {"SAREEFLOW_MAX_UPLOAD_BYTES": str(UPLOAD_CAP_BYTES), "SAREEFLOW_FAILURE_INJECTION": ""}
    yield from _stack(tmp_path_factory, "reliability", (PREFECT_PORT, API_PORT), env)


@pytest.fixture
def stack_client(reliability_stack):
    with httpx.Client(base_url=f"{reliability_stack[0].api_url}{API}", timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def sample_photo() -> bytes:
    return sample_image_path().read_bytes()


FLOW_PREFECT_PORT, FLOW_API_PORT = 4295, 8095
FLOW_INJECTION = "02:border_distortion@1"
"""Pose 02's first attempt is damaged on purpose in every job of the flow stack, so every job
also goes through a validation failure, a retry with constraints and its files."""


@pytest.fixture(scope="session")
def flow_stack(tmp_path_factory):
    """(stack, storage root): a real stack whose runner the crash test kills and restarts, and
    on which the concurrency test runs many jobs (ports of its own, 4295/8095)."""
    env = {
        "SAREEFLOW_FAILURE_INJECTION": FLOW_INJECTION,
        # Crash and concurrency behaviour does not depend on image size; smaller working
        # images keep many jobs affordable on a shared 2-core machine. (Not smaller still:
        # at 640/512 px validation falsely fails a few faithful poses of generated sarees.)
        "SAREEFLOW_WORK_MAX_SIDE_PX": "1024",
        "SAREEFLOW_CANVAS_HEIGHT_PX": "768",
    }
    yield from _stack(tmp_path_factory, "flow", (FLOW_PREFECT_PORT, FLOW_API_PORT), env)


@pytest.fixture
def flow_client(flow_stack):
    with httpx.Client(base_url=f"{flow_stack[0].api_url}{API}", timeout=60) as client:
        yield client
