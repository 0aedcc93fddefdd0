"""Handing a job to Prefect, and asking Prefect how its run is doing.

The API never runs a flow itself: it admits a job in the store, then asks Prefect to start the
mode's deployment (``prefect.yaml``: one deployment named ``sareeflow`` per flow, the flows
being named after the modes). :class:`Launcher` is the one seam; tests pass a fake.

Prefect is imported lazily (``import prefect`` costs 1.2-3.3 s), so building the app and
running the API tests with a fake launcher never loads it; with the real launcher the API
imports it in a background thread as it starts (:meth:`PrefectLauncher.start_warm_up`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol, runtime_checkable

import anyio

from sareeflow.errors import OrchestratorUnavailable

logger = logging.getLogger("sareeflow.api")

DEPLOYMENT_NAME = "sareeflow"
"""Every flow's deployment in ``prefect.yaml`` has this name: ``<mode>/sareeflow``."""

STATUS_TIMEOUT_S = 2.0
"""Longest a status request waits for Prefect (s); past it the store's state is returned as is.
Prefect's client retries unreachable servers with back-off for much longer than a frontend polls."""

STATUS_FRESH_S = 1.0
"""How long a flow run's Prefect state is reused (s). Every poll of a running job used to be one
more Prefect read; with 20 clients polling, the reads queued past ``STATUS_TIMEOUT_S`` and a
status request took ~2 s (``make bench-load``). The store's state is always read fresh; Prefect
is only asked whether a run died without saying so, where a second's delay changes nothing."""

SUBMIT_TIMEOUT_S = 15.0
"""Longest a job submission waits for Prefect (s). ``run_deployment`` normally returns in
50–110 ms but SQLite lock retries take about 2 s (notes/prefect-3.9-measured.md)."""

NOT_REACHABLE = (
    "The job could not be started because the orchestrator is unavailable; try again later."
)


@runtime_checkable
class Launcher(Protocol):
    """Starts a mode's flow run for an admitted job and reports the run's state."""

    async def submit(self, mode: str, saree_id: str, job_id: str) -> str:
        """Start the run; return Prefect's flow-run id. Raises :class:`OrchestratorUnavailable`."""
        ...

    async def flow_run_status(self, flow_run_id: str) -> str | None:
        """Prefect state type name ("RUNNING", "CRASHED", ...), or None if unknown/unreachable."""
        ...


class PrefectLauncher:
    """:class:`Launcher` over the Prefect API named by ``PREFECT_API_URL``.

    Without ``PREFECT_API_URL`` Prefect would start a temporary in-process server, which an API
    process must never do: submission then fails fast with :class:`OrchestratorUnavailable`.
    """

    def __init__(self, deployment: str = DEPLOYMENT_NAME) -> None:
        self.deployment = deployment
        self._states: dict[str, tuple[float, str | None]] = {}
        self._reading: dict[str, anyio.Lock] = {}
        self._warm_up: threading.Thread | None = None

    def start_warm_up(self) -> None:
        """Import Prefect's client in a background thread, off the request path (the API
        calls this as it starts). Otherwise the first job submission pays for
        ``import prefect`` (3.3 s on this machine, more when busy) on the event loop, where no
        other request is served meanwhile; CI's browser test once waited over 5 s for the
        first job to be accepted."""
        self._warm_up = threading.Thread(target=_import_prefect, name="prefect-import", daemon=True)
        self._warm_up.start()

    async def _prefect_imported(self) -> None:
        """Wait, off the event loop, for the warm-up's import to finish: two threads importing
        Prefect's interdependent modules at once can deadlock on Python's import locks."""
        if self._warm_up is not None and self._warm_up.is_alive():
            await anyio.to_thread.run_sync(self._warm_up.join)

    async def submit(self, mode: str, saree_id: str, job_id: str) -> str:
        await self._prefect_imported()
        if not _api_configured():
            raise OrchestratorUnavailable(NOT_REACHABLE, detail="PREFECT_API_URL is not set")
        from prefect.deployments import arun_deployment

        name = f"{mode}/{self.deployment}"
        try:
            with anyio.fail_after(SUBMIT_TIMEOUT_S):
                flow_run = await arun_deployment(
                    name=name,
                    parameters={"saree_id": saree_id, "job_id": job_id},
                    timeout=0,
                    as_subflow=False,
                    idempotency_key=job_id,  # a repeated submission never makes a second run
                )
        except Exception as exc:  # noqa: BLE001 - any Prefect/httpx failure means "not started"
            detail = f"deployment {name}: {type(exc).__name__}: {exc}"
            raise OrchestratorUnavailable(NOT_REACHABLE, detail=detail) from exc
        return str(flow_run.id)

    async def flow_run_status(self, flow_run_id: str) -> str | None:
        await self._prefect_imported()
        if not _api_configured():
            return None
        # One Prefect read per run at a time; pollers arriving meanwhile wait for its answer
        # and then share it for STATUS_FRESH_S.
        async with self._reading.setdefault(flow_run_id, anyio.Lock()):
            cached = self._states.get(flow_run_id)
            if cached is not None and time.monotonic() - cached[0] < STATUS_FRESH_S:
                return cached[1]
            state = await self._read_state(flow_run_id)
            self._forget_old()
            self._states[flow_run_id] = (time.monotonic(), state)
            return state

    async def _read_state(self, flow_run_id: str) -> str | None:
        from uuid import UUID

        from prefect.client.orchestration import get_client

        try:
            with anyio.move_on_after(STATUS_TIMEOUT_S):
                async with get_client() as client:
                    flow_run = await client.read_flow_run(UUID(flow_run_id))
                return flow_run.state.type.value if flow_run.state else None
        except Exception as exc:  # noqa: BLE001 - the store's state is still a valid answer
            logger.warning("flow run %s: Prefect state unavailable: %r", flow_run_id, exc)
        return None

    def _forget_old(self, keep_s: float = 60.0) -> None:
        """Drop states nobody asked for lately, so the maps do not grow with every run ever."""
        now = time.monotonic()
        for run_id, (at, _) in list(self._states.items()):
            lock = self._reading.get(run_id)
            if now - at > keep_s and not (lock and lock.locked()):
                del self._states[run_id]
                self._reading.pop(run_id, None)


def _import_prefect() -> None:
    import prefect.client.orchestration  # noqa: F401
    import prefect.deployments  # noqa: F401


def _api_configured() -> bool:
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())
