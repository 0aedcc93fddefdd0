"""CLI commands that talk to a running stack (``make run``) over its HTTP API.

``sareeflow generate`` submits a job the way a frontend does, so the job runs on the stack's
Prefect deployment, not in the CLI's process. Errors come back as the API's problem+json and
are raised again as the same :class:`SareeflowError` category, so the CLI maps them to exit
codes like any local error.

The job state returned is the API's (``JobPublic``): poses carry ``image_url`` (a URL under the
API), not file paths.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from sareeflow.errors import (
    AdapterUnavailable,
    Conflict,
    Crashed,
    InternalError,
    InvalidInput,
    NotFound,
    OrchestratorUnavailable,
    SareeflowError,
    StorageError,
    ValidationFailed,
)

API_PREFIX = "/api/v1"
REQUEST_TIMEOUT_S = 30.0
"""Per HTTP request (s); a job submission normally answers in well under a second."""

TERMINAL = ("success", "failed")

_BY_CATEGORY: dict[str, type[SareeflowError]] = {
    cls.category: cls
    for cls in (
        InvalidInput,
        NotFound,
        Conflict,
        ValidationFailed,
        AdapterUnavailable,
        OrchestratorUnavailable,
        StorageError,
        Crashed,
        InternalError,
    )
}


def generate_remote(
    api_url: str,
    saree_id: str,
    mode: str,
    *,
    wait: bool,
    poll_s: float = 0.5,
    timeout_s: float = 600,
    client: httpx.Client | None = None,
    on_state: Callable[[dict], None] | None = None,
) -> dict:
    """Start a ``mode`` job for ``saree_id`` on the stack at ``api_url``; return its job state.

    With ``wait`` the job is polled every ``poll_s`` seconds until it is success or failed, or
    until ``timeout_s`` passes: then the last state seen is returned (its ``status`` says it is
    still queued/running; the job keeps going on the stack). ``client`` is for tests (e.g. a
    FastAPI ``TestClient``); by default a fresh ``httpx.Client`` is used and closed.
    ``on_state`` sees every state received (the CLI's progress bar).
    """
    base = api_base(api_url)
    own = client is None
    http = client or httpx.Client(timeout=REQUEST_TIMEOUT_S)
    try:
        state = _call(http, "POST", f"{base}/sarees/{saree_id}/jobs", json={"mode": mode})
        deadline = time.monotonic() + timeout_s
        while wait and state["status"] not in TERMINAL and time.monotonic() < deadline:
            if on_state is not None:
                on_state(state)
            time.sleep(min(poll_s, max(deadline - time.monotonic(), 0)))
            state = _call(http, "GET", f"{base}/jobs/{state['job_id']}")
        if on_state is not None:
            on_state(state)
        return state
    finally:
        if own:
            http.close()


def job_status_remote(api_url: str, job_id: str, *, client: httpx.Client | None = None) -> dict:
    """One job's state from the stack at ``api_url``."""
    return _get(api_url, f"/jobs/{job_id}", client)


def gallery_remote(api_url: str, saree_id: str, *, client: httpx.Client | None = None) -> dict:
    """One saree's gallery from the stack at ``api_url``."""
    return _get(api_url, f"/sarees/{saree_id}/gallery", client)


def _get(api_url: str, path: str, client: httpx.Client | None) -> dict:
    own = client is None
    http = client or httpx.Client(timeout=REQUEST_TIMEOUT_S)
    try:
        return _call(http, "GET", f"{api_base(api_url)}{path}")
    finally:
        if own:
            http.close()


def api_base(api_url: str) -> str:
    """``http://host:8000`` or ``http://host:8000/api/v1`` → the ``/api/v1`` base URL."""
    base = api_url.rstrip("/")
    return base if base.endswith(API_PREFIX) else f"{base}{API_PREFIX}"


def _call(http: httpx.Client, method: str, url: str, **kwargs) -> dict:
    """One request; a problem+json answer becomes its SareeflowError, no answer a 503 kind."""
    try:
        response = http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise OrchestratorUnavailable(
            "The sareeflow API is not reachable; is the stack running (make run)?",
            detail=f"{method} {url}: {exc!r}",
        ) from exc
    if response.is_success:
        return response.json()
    raise problem_error(response)


def problem_error(response: httpx.Response) -> SareeflowError:
    """The SareeflowError a problem+json response stands for (InternalError if unreadable)."""
    try:
        problem = response.json()
        category, message = str(problem["category"]), str(problem["detail"])
    except (ValueError, KeyError, TypeError):
        return InternalError(
            f"The API answered {response.status_code} without an error description.",
            detail=response.text[:500],
        )
    cls = _BY_CATEGORY.get(category, SareeflowError)
    error = cls(message, detail=f"HTTP {response.status_code} {category}")
    if cls is SareeflowError:
        error.category = category  # type: ignore[misc]  # keep e.g. 'cancelled' as sent
    return error
