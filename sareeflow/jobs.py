"""Job state as a fold of the job's append-only event log (DESIGN §4, §5).

The event log is the source of truth; Prefect's database mirrors it for operators. Event types::

    job_created      {job_id, saree_id, mode}                  → status queued
    flow_run_linked  {flow_run_id}
    job_started      {generation, poses}                        → status running
    stage_started    {stage}                                    → current_stage
    attempt_finished {pose, attempt, passed, failures, reasons, attempt_dir, output}
    pose_finished    {pose, status, attempts, output, attempt_dir}
    job_finished     {status, error_category?, message?}       → success | failed
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from sareeflow.errors import Conflict, InvalidInput
from sareeflow.poses import load_catalogue, poses_for_mode
from sareeflow.prepared import latest_prepared
from sareeflow.store import Store, new_id, now_iso, process_alive

Mode = Literal["standard", "extend", "retry_failed"]
MODES: tuple[str, ...] = ("standard", "extend", "retry_failed")
JobStatus = Literal["queued", "running", "success", "failed"]
PoseStatus = Literal["pending", "running", "passed", "failed"]
TERMINAL = ("success", "failed")


class PoseState(BaseModel):
    pose: str
    label: str
    status: PoseStatus = "pending"
    attempts: int = 0
    output: str | None = Field(None, description="Published image, relative to the saree folder.")
    attempt_dir: str | None = Field(None, description="The attempt that made it (relative).")
    failures: list[str] = []
    reasons: list[str] = []


class Progress(BaseModel):
    done: int
    total: int


class JobError(BaseModel):
    category: str
    message: str


class JobState(BaseModel):
    job_id: str
    saree_id: str
    mode: Mode
    status: JobStatus
    current_stage: str | None = None
    retries: int = 0
    created_at: str
    updated_at: str
    generation: int | None = None
    flow_run_id: str | None = None
    progress: Progress
    poses: list[PoseState] = []
    error: JobError | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def fold(events: Iterable[dict]) -> JobState:
    """Rebuild a job's state from its events alone."""
    state: JobState | None = None
    labels = {pose_id: spec.label for pose_id, spec in load_catalogue().poses.items()}
    for event in events:
        kind = event.get("type")
        if kind == "job_created":
            state = JobState(
                job_id=event["job_id"],
                saree_id=event["saree_id"],
                mode=event["mode"],
                status="queued",
                created_at=event["at"],
                updated_at=event["at"],
                progress=Progress(done=0, total=0),
            )
            continue
        if state is None or state.terminal:
            continue  # nothing counts before creation or after the end
        state.updated_at = event["at"]
        if kind == "flow_run_linked":
            state.flow_run_id = event["flow_run_id"]
        elif kind == "job_started":
            state.status = "running"
            state.generation = event["generation"]
            state.poses = [PoseState(pose=p, label=labels.get(p, p)) for p in event["poses"]]
            state.progress = Progress(done=0, total=len(state.poses))
        elif kind == "stage_started":
            state.current_stage = event["stage"]
        elif kind == "attempt_finished":
            pose = _pose(state, event["pose"])
            pose.status = "running"
            pose.attempts = max(pose.attempts, event["attempt"])
            pose.failures = list(event.get("failures", []))
            pose.reasons = list(event.get("reasons", []))
        elif kind == "pose_finished":
            pose = _pose(state, event["pose"])
            pose.status = event["status"]
            pose.attempts = event["attempts"]
            pose.output = event.get("output")
            pose.attempt_dir = event.get("attempt_dir")
            if pose.status == "passed":
                pose.failures, pose.reasons = [], []
            state.progress.done = sum(p.status in ("passed", "failed") for p in state.poses)
        elif kind == "job_finished":
            state.status = event["status"]
            state.current_stage = None
            for pose in state.poses:  # a pose the job never finished failed with it
                if pose.status in ("pending", "running"):
                    pose.status = "failed"
            if event.get("error_category"):
                state.error = JobError(category=event["error_category"], message=event["message"])
        state.retries = sum(max(p.attempts - 1, 0) for p in state.poses)
    if state is None:
        raise ValueError("event log has no job_created event")
    return state


def _pose(state: JobState, pose_id: str) -> PoseState:
    for pose in state.poses:
        if pose.pose == pose_id:
            return pose
    pose = PoseState(pose=pose_id, label=pose_id)
    state.poses.append(pose)
    return pose


# ---------------------------------------------------------------------- queries over the store
def job_state(store: Store, job_id: str) -> JobState:
    """The fold of a job's events; NotFound for unknown ids.

    A crash can land between writing the job record and its ``job_created`` event: the
    record then stands in for it (a queued job that ``reconcile`` ends), so one interrupted
    admission never makes its saree unreadable.
    """
    record = store.job_record(job_id)
    events = store.events(job_id)
    if not any(event.get("type") == "job_created" for event in events):
        created = {"type": "job_created", "at": record["created_at"]}
        created |= {key: record[key] for key in ("job_id", "saree_id", "mode")}
        events = [created, *events]
    return fold(events)


def saree_jobs(store: Store, saree_id: str) -> list[JobState]:
    return [job_state(store, job_id) for job_id in store.saree_job_ids(saree_id)]


def latest_pose_outcomes(store: Store, saree_id: str) -> dict[str, PoseState]:
    """Each pose's latest finished outcome across all jobs of a saree (oldest job first)."""
    outcomes: dict[str, PoseState] = {}
    for state in saree_jobs(store, saree_id):
        for pose in state.poses:
            if pose.status in ("passed", "failed"):
                outcomes[pose.pose] = pose
    return outcomes


def has_prepared_inputs(store: Store, saree_id: str) -> bool:
    return latest_prepared(store, saree_id) is not None


CRASH_MESSAGE = (
    "The job stopped unexpectedly. Poses that passed stay published; retry_failed re-runs the rest."
)


def reconcile(store: Store, state: JobState, *, admission_held: bool = False) -> JobState:
    """Turn a job whose runner died into ``failed`` (category ``crashed``); never stuck.

    Running: the flow holds the saree's ``run`` flock from before ``job_started`` until after
    ``job_finished``, so a running job whose lock is free has lost its process.

    Queued: every event names the process that wrote it (``by``). A queued job whose latest
    writer was a process of this machine that no longer exists (a CLI run killed before its
    flow started, a runner killed between picking the run up and ``job_started``, an API
    restarted before Prefect started the run) will never start. A queued job with no event at
    all lost its admission half-way, unless an admission is still holding the ``admit`` lock
    (``admission_held``: the caller holds it, so nothing else is admitting).

    If the job ended in between, the extra event lands after a terminal one and the fold
    ignores it.
    """
    if state.status == "running" and not store.is_locked(state.saree_id, "run"):
        mark_failed(store, state.job_id, "crashed", CRASH_MESSAGE)
        return job_state(store, state.job_id)
    if state.status == "queued" and _queued_job_is_orphaned(store, state, admission_held):
        mark_failed(store, state.job_id, "crashed", CRASH_MESSAGE)
        return job_state(store, state.job_id)
    return state


def _queued_job_is_orphaned(store: Store, state: JobState, admission_held: bool) -> bool:
    events = store.events(state.job_id)
    if not events:
        return admission_held or not store.is_locked(state.saree_id, "admit")
    return not process_alive(events[-1].get("by"))


def mark_failed(store: Store, job_id: str, category: str, message: str) -> None:
    store.append_event(
        job_id,
        {
            "type": "job_finished",
            "status": "failed",
            "error_category": category,
            "message": message,
        },
    )


def poses_to_run(store: Store, saree_id: str, mode: str) -> tuple[str, ...]:
    """The backend's mode → poses decision (clients never pass pose ids); Conflict if none."""
    if mode not in MODES:
        raise InvalidInput(f"Unknown mode {mode!r}; use one of: {', '.join(MODES)}.")
    if mode == "extend" and not has_prepared_inputs(store, saree_id):
        raise Conflict("Extend needs a finished standard job for this saree first.")
    if mode == "retry_failed":
        failed = tuple(
            sorted(
                p for p, o in latest_pose_outcomes(store, saree_id).items() if o.status == "failed"
            )
        )
        if not failed:
            raise Conflict("No pose of this saree has failed; there is nothing to retry.")
        return failed
    return poses_for_mode(mode)


def admit_job(store: Store, saree_id: str, mode: str) -> JobState:
    """Create a queued job, or raise Conflict while another job of the saree is unfinished.

    Admission holds the saree's ``admit`` lock so that concurrent requests see each other's
    jobs; a job still queued or running (and alive) blocks a new one.
    """
    store.require_saree(saree_id)
    with store.lock(saree_id, "admit", blocking=True):
        for state in saree_jobs(store, saree_id):
            if not reconcile(store, state, admission_held=True).terminal:
                raise Conflict("This saree already has a job in progress.")
        poses_to_run(store, saree_id, mode)  # validates the mode and its preconditions
        job_id = new_id()
        created = now_iso()
        store.write_job_record(
            job_id,
            saree_id,
            {"job_id": job_id, "saree_id": saree_id, "mode": mode, "created_at": created},
        )
        store.append_event(
            job_id, {"type": "job_created", "job_id": job_id, "saree_id": saree_id, "mode": mode}
        )
    return job_state(store, job_id)
