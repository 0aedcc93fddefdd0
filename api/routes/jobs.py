"""Jobs: start one for a saree (202 at once), then poll its state."""

from __future__ import annotations

import logging
from functools import partial

import anyio
from fastapi import APIRouter, Response

from api.deps import LauncherDep, StoreDep, UrlsDep
from api.errors import problem_responses
from api.launcher import Launcher
from api.schemas import JobCreate, JobPublic
from sareeflow.errors import SareeflowError, user_safe
from sareeflow.jobs import (
    CRASH_MESSAGE,
    JobState,
    admit_job,
    job_state,
    mark_failed,
    reconcile,
    saree_jobs,
)
from sareeflow.store import Store

logger = logging.getLogger("sareeflow.api")

router = APIRouter(tags=["jobs"])

CANCEL_MESSAGE = (
    "The job was cancelled. Poses that passed stay published; retry_failed re-runs the rest."
)
ORCHESTRATOR_ENDINGS = {
    "CRASHED": ("crashed", CRASH_MESSAGE),
    "FAILED": ("crashed", CRASH_MESSAGE),
    "CANCELLED": ("cancelled", CANCEL_MESSAGE),
}
"""Prefect state types that end a job the store still thinks is queued or running: the run
died before it could say so itself (killed worker, bad parameters, cancelled in the UI)."""


@router.post(
    "/sarees/{saree_id}/jobs",
    status_code=202,
    response_model=JobPublic,
    responses=problem_responses(400, 404, 409, 422, 503),
)
async def create_job(
    saree_id: str,
    body: JobCreate,
    store: StoreDep,
    launcher: LauncherDep,
    urls: UrlsDep,
    response: Response,
) -> JobPublic:
    """Start a job for a saree by mode; 409 while another is unfinished or the mode can't run."""
    await _settle_unfinished(store, launcher, saree_id)
    state = await anyio.to_thread.run_sync(admit_job, store, saree_id, body.mode)
    with anyio.CancelScope(shield=True):  # an admitted job always ends linked to a run, or failed
        flow_run_id = await _submit(store, launcher, state)
        link = {"type": "flow_run_linked", "flow_run_id": flow_run_id}
        await anyio.to_thread.run_sync(store.append_event, state.job_id, link)
        state = await anyio.to_thread.run_sync(job_state, store, state.job_id)
    response.headers["Location"] = urls.job(state.job_id)
    return JobPublic.build(state, urls)


async def _submit(store: Store, launcher: Launcher, state: JobState) -> str:
    """Hand the job to the orchestrator; if that fails the job ends failed, never stays queued."""
    try:
        return await launcher.submit(state.mode, state.saree_id, state.job_id)
    except Exception as exc:
        category, message = user_safe(exc)
        if not isinstance(exc, SareeflowError):
            logger.error("job %s: launcher failed: %r", state.job_id, exc, exc_info=exc)
        await anyio.to_thread.run_sync(mark_failed, store, state.job_id, category, message)
        raise


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=problem_responses(404))
async def read_job(job_id: str, store: StoreDep, launcher: LauncherDep, urls: UrlsDep) -> JobPublic:
    """A job's state: status, stage, progress, and per pose its status, attempts and image."""
    state = await anyio.to_thread.run_sync(_reconciled, store, job_id)
    if not state.terminal and state.flow_run_id:
        state = await _follow_orchestrator(store, launcher, state)
    return JobPublic.build(state, urls)


async def _settle_unfinished(store: Store, launcher: Launcher, saree_id: str) -> None:
    """Before admitting: end the saree's unfinished jobs whose Prefect run is already over.

    A run cancelled in the Prefect UI before it started never writes to the store, and its
    job would block the saree (409) until someone happened to poll it.
    """
    states = await anyio.to_thread.run_sync(_unfinished_jobs, store, saree_id)
    for state in states:
        if state.flow_run_id:
            await _follow_orchestrator(store, launcher, state)


def _unfinished_jobs(store: Store, saree_id: str) -> list[JobState]:
    store.require_saree(saree_id)
    return [
        s for s in map(partial(reconcile, store), saree_jobs(store, saree_id)) if not s.terminal
    ]


def _reconciled(store: Store, job_id: str) -> JobState:
    return reconcile(store, job_state(store, job_id))


async def _follow_orchestrator(store: Store, launcher: Launcher, state: JobState) -> JobState:
    """End the job if Prefect says its run is over; Prefect unreachable → the store's state."""
    assert state.flow_run_id is not None
    try:
        run_state = await launcher.flow_run_status(state.flow_run_id)
    except Exception as exc:  # noqa: BLE001 - the store's state is still a truthful answer
        logger.warning("job %s: flow run state unavailable: %r", state.job_id, exc)
        return state
    ending = ORCHESTRATOR_ENDINGS.get(run_state or "")
    if ending is None:
        return state
    logger.warning(
        "job %s: flow run %s is %s; ending the job", state.job_id, state.flow_run_id, run_state
    )
    return await anyio.to_thread.run_sync(_end_unless_finished, store, state.job_id, *ending)


def _end_unless_finished(store: Store, job_id: str, category: str, message: str) -> JobState:
    if not job_state(store, job_id).terminal:
        mark_failed(store, job_id, category, message)
    return job_state(store, job_id)
