"""The three flows (DESIGN §3): standard (01–04), extend (05–12), retry_failed.

Wiring only: stages live in ``tasks/``. Each flow runs one job:

1. a job is admitted (by the API or CLI before the run, or here when triggered from the Prefect
   CLI with only ``saree_id``);
2. the saree's ``run`` flock is held from ``job_started`` to ``job_finished``, so a job whose
   process died is recognisable (running, lock free) and becomes ``failed: crashed``;
3. generation N+1 is claimed; S_clean/S_flat/parts are prepared once per saree and reused;
4. poses run concurrently as retrying Prefect tasks; the generation's retry log (JSON and
   Markdown), contact sheet and metrics are written; the job ends ``success`` only if every
   pose passed.

For operators (issue 7): runs are named by mode and saree (tasks by stage, or ``pose-PP``
whose Prefect retries are the attempts), tagged ``saree:``/``mode:``/``job:``; every step logs
one JSON line (``sareeflow.joblog``) to ``jobs/<id>/log.jsonl`` and to Prefect; the Prefect
artifacts (per-pose checks and attempts, job progress, summary) are in ``flows/artifacts.py``.
"""

from __future__ import annotations

import json
import time

from prefect import flow, runtime, tags
from prefect.task_runners import ThreadPoolTaskRunner

from flows.artifacts import (
    JobProgress,
    best_effort,
    publish_pose_artifacts,
    publish_summary,
    run_tags,
    tag_flow_run,
)
from sareeflow.contact_sheet import SheetTile, contact_sheet_png
from sareeflow.errors import SareeflowError, ValidationFailed, user_safe
from sareeflow.imaging import decode_png
from sareeflow.joblog import JobLog, render_retry_log_md
from sareeflow.jobs import JobState, admit_job, job_state, mark_failed, poses_to_run
from sareeflow.models import PartsInfo
from sareeflow.placement import build_placement
from sareeflow.poses import load_catalogue
from sareeflow.prepared import MARKER, PreparedRef, latest_prepared, prepared_prefix
from sareeflow.settings import Settings, get_settings
from sareeflow.store import Store
from tasks.extract import extract_task
from tasks.flatten import flatten_task
from tasks.isolate import isolate_task
from tasks.pose import AttemptOutcome, PoseJob, earlier_attempts, pose_dir, pose_task


def run_job(saree_id: str, mode: str, job_id: str | None = None) -> dict:
    """Run (or, from the Prefect CLI, first admit) one job; returns the final job state."""
    settings = get_settings()
    store = Store(settings.storage_root)
    if job_id is None:
        job_id = admit_job(store, saree_id, mode).job_id
    state = job_state(store, job_id)
    if state.saree_id != saree_id or state.mode != mode:
        raise SareeflowError("The job does not belong to this saree and mode.")
    log = JobLog(store, job_id, saree_id, mode=mode)
    labels = run_tags(saree_id, mode, job_id)
    if flow_run_id := runtime.flow_run.id:
        store.append_event(job_id, {"type": "flow_run_linked", "flow_run_id": str(flow_run_id)})
        best_effort("flow run tags", lambda: tag_flow_run(flow_run_id, labels), log)
    try:
        with tags(*labels), store.lock(saree_id, "run", blocking=False):
            if not job_state(store, job_id).terminal:
                _execute_locked(store, settings, log)
    except SareeflowError as exc:  # Conflict on the lock: the job never started
        if not job_state(store, job_id).terminal:
            log.error("job_refused", f"job not started: {exc.message}", category=exc.category)
            mark_failed(store, job_id, exc.category, exc.message)
        raise
    final = job_state(store, job_id)
    if final.status == "failed":
        # Prefect shows the run as Failed for operators; the store already says why.
        raise ValidationFailed(final.error.message if final.error else "The job failed.")
    return final.model_dump(mode="json")


def _execute_locked(store: Store, settings: Settings, log: JobLog) -> None:
    """Everything between job_started and job_finished; any error ends the job failed."""
    job_id, saree_id, mode = log.job_id, log.saree_id, str(log.mode)
    started = time.monotonic()
    try:
        poses = poses_to_run(store, saree_id, mode)
        generation = store.new_generation(saree_id)
        log = log.bind(generation=generation)
        store.append_event(
            job_id, {"type": "job_started", "generation": generation, "poses": list(poses)}
        )
        log.info(
            "job_started",
            f"{mode} job started: generation {generation}, poses {', '.join(poses)}",
            poses=list(poses),
        )
        store.write_json(
            saree_id,
            f"generations/{generation:04d}/generation.json",
            {"generation": generation, "job_id": job_id, "mode": mode, "poses": list(poses)},
            kind="generation",
            generation=generation,
        )
        progress = JobProgress(log, len(poses))
        prepared = latest_prepared(store, saree_id)
        if prepared is None:
            prepared = _prepare(store, settings, log)
        else:
            log.info(
                "prepared_reused",
                f"reusing S_clean, S_flat and parts of generation {prepared.generation}",
                prepared_generation=prepared.generation,
            )
        outcomes, errors = _run_poses(store, settings, log, poses, prepared, progress)
        _finish_generation(store, settings, log, prepared, outcomes, errors)
        final = job_state(store, job_id)
        log.bind(stage=None).log(
            "info" if final.status == "success" else "warning",
            "job_finished",
            f"{mode} job {final.status}"
            + (f": {final.error.message}" if final.error else "")
            + f" ({time.monotonic() - started:.1f} s)",
            status=final.status,
            retries=final.retries,
            duration_s=round(time.monotonic() - started, 3),
        )
    except Exception as exc:  # noqa: BLE001 - every failure must end the job, categorised
        category, message = user_safe(exc)
        log.error("job_failed", f"job failed ({category}): {exc!r}", category=category)
        mark_failed(store, job_id, category, message)
        if not isinstance(exc, SareeflowError):
            raise


def _stage(store: Store, log: JobLog, stage: str) -> JobLog:
    """Record a stage's start in the job's events and log; returns the log bound to it."""
    store.append_event(log.job_id, {"type": "stage_started", "stage": stage})
    staged = log.bind(stage=stage)
    staged.info("stage_started", f"stage {stage} started")
    return staged


def _prepare(store: Store, settings: Settings, log: JobLog) -> PreparedRef:
    """isolate → flatten → extract, once per saree; the marker is written last."""
    saree_id, generation = log.saree_id, int(log.generation or 0)
    saree = store.require_saree(saree_id)
    upload_sha = store.artifact(saree_id, saree.original_path).sha256
    image = decode_png(store.read_bytes(saree_id, saree.normalized_path))
    records = {}
    _stage(store, log, "isolate")
    s_clean, isolate_records = isolate_task.with_options(task_run_name="isolate")(
        settings, saree_id, generation, image
    )
    records.update(isolate_records)
    _stage(store, log, "flatten")
    s_flat, flatten_records = flatten_task.with_options(task_run_name="flatten")(
        settings, saree_id, generation, s_clean, upload_sha
    )
    records.update(flatten_records)
    _stage(store, log, "extract")
    records.update(
        extract_task.with_options(task_run_name="extract")(settings, saree_id, generation, s_flat)
    )
    prepared = PreparedRef(
        generation=generation,
        files={name: record.path for name, record in records.items()},
        sha256={name: record.sha256 for name, record in records.items()},
    )
    store.write_json(
        saree_id,
        f"{prepared_prefix(generation)}/{MARKER}",
        prepared,
        kind="prepared",
        generation=generation,
    )
    return prepared


def _run_poses(
    store: Store,
    settings: Settings,
    log: JobLog,
    poses: tuple[str, ...],
    prepared: PreparedRef,
    progress: JobProgress,
) -> tuple[dict[str, AttemptOutcome | None], dict[str, tuple[str, str]]]:
    """Compose + validate every pose concurrently; returns each pose's last attempt, and for
    poses stopped by something other than validation (storage, adapter, a bug) the error's
    user-safe ``(category, message)``."""
    job_id, saree_id, generation = log.job_id, log.saree_id, int(log.generation or 0)
    log = _stage(store, log, "compose")
    saree = store.require_saree(saree_id)
    s_flat = decode_png(store.read_bytes(saree_id, prepared.path("s_flat")))
    parts = PartsInfo.model_validate(store.read_json(saree_id, prepared.path("parts")))
    job = PoseJob(
        job_id=job_id,
        saree_id=saree_id,
        mode=log.mode,
        generation=generation,
        upload_sha256=store.artifact(saree_id, saree.original_path).sha256,
        s_flat_path=prepared.path("s_flat"),
        s_flat_sha256=prepared.sha256["s_flat"],
    )
    catalogue = load_catalogue()
    task = pose_task.with_options(retries=settings.max_retries)
    futures = {}
    for pose in poses:
        placement = build_placement(
            catalogue.poses[pose], parts, canvas_height=settings.canvas_height_px
        )
        record = store.write_artifact(
            saree_id,
            f"{pose_dir(generation, pose)}/placement.json",
            _placement_json(placement),
            kind="placement",
            generation=generation,
            pose=pose,
        )
        futures[pose] = task.submit(settings, job, pose, s_flat, placement, record.sha256)
    outcomes: dict[str, AttemptOutcome | None] = {}
    errors: dict[str, tuple[str, str]] = {}
    for done, (pose, future) in enumerate(futures.items(), start=1):
        future.wait()
        attempts = earlier_attempts(store, saree_id, generation, pose)
        last = attempts[-1] if attempts else None
        passed = bool(last and last["pass"] and future.state.is_completed())
        stopped_by = _pose_error(future)
        if stopped_by is not None:
            errors[pose] = stopped_by
        outcome = None
        if last is not None:
            rel = f"{pose_dir(generation, pose)}/attempt-{last['attempt']}"
            outcome = AttemptOutcome(
                pose=pose,
                attempt=last["attempt"],
                passed=passed,
                attempt_dir=rel,
                output=f"{rel}/output.png",
                failures=last["failures"],
                reasons=last["reasons"],
            )
        store.append_event(
            job_id,
            {
                "type": "pose_finished",
                "pose": pose,
                "status": "passed" if passed else "failed",
                "attempts": len(attempts),
                "output": outcome.output if passed and outcome else None,
                "attempt_dir": outcome.attempt_dir if outcome else None,
                **({"error_category": stopped_by[0]} if stopped_by else {}),
            },
        )
        outcomes[pose] = outcome
        _report_pose(log, settings, catalogue.poses[pose].label, pose, passed, attempts, future)
        progress.update(done)
    return outcomes, errors


def _pose_error(future) -> tuple[str, str] | None:
    """``(category, message)`` of a pose task that failed with anything but a validation
    failure, None otherwise (passed, or failed validation on its last attempt)."""
    if not future.state.is_failed():
        return None
    exc = future.state.result(raise_on_failure=False)
    if not isinstance(exc, BaseException) or isinstance(exc, ValidationFailed):
        return None
    return user_safe(exc)


def _report_pose(
    log: JobLog,
    settings: Settings,
    label: str,
    pose: str,
    passed: bool,
    attempts: list[dict],
    future,
) -> None:
    """A finished pose's log line and its Prefect artifacts (attached to its task run)."""
    generation = int(log.generation or 0)
    pose_log = log.bind(pose=pose, attempt=len(attempts) or None)
    pose_log.log(
        "info" if passed else "warning",
        "pose_finished",
        f"pose {pose} ({label}) {'passed' if passed else 'failed'} after {len(attempts)} "
        f"attempt{'s' if len(attempts) != 1 else ''}",
        status="passed" if passed else "failed",
        attempts=len(attempts),
    )
    publish_pose_artifacts(
        pose_log,
        api_url=settings.api_url,
        generation=generation,
        pose=pose,
        label=label,
        passed=passed,
        attempts=attempts,
        attempt_dirs={
            int(r["attempt"]): f"{pose_dir(generation, pose)}/attempt-{r['attempt']}"
            for r in attempts
        },
        task_run_id=getattr(future, "task_run_id", None),
    )


def _finish_generation(
    store: Store,
    settings: Settings,
    log: JobLog,
    prepared: PreparedRef,
    outcomes: dict[str, AttemptOutcome | None],
    errors: dict[str, tuple[str, str]],
) -> None:
    """Write the retry log, contact sheet and the generation's metrics, then end the job."""
    job_id, saree_id, mode = log.job_id, log.saree_id, str(log.mode)
    generation = int(log.generation or 0)
    log = _stage(store, log, "finalize")
    catalogue = load_catalogue()
    prefix = f"generations/{generation:04d}"
    retry_log = []
    summary = {}
    for pose, outcome in outcomes.items():
        attempts = earlier_attempts(store, saree_id, generation, pose)
        for record in attempts:
            retry_log.append(
                {
                    "pose": pose,
                    "attempt": record["attempt"],
                    "pass": record["pass"],
                    "failures": record["failures"],
                    "reasons": record["reasons"],
                    "injected_defect": record["injected_defect"],
                    "seed": record["seed"],
                }
            )
        summary[pose] = {
            "label": catalogue.poses[pose].label,
            "pass": bool(outcome and outcome.passed),
            "attempts": len(attempts),
            "retries": max(len(attempts) - 1, 0),
            "output": outcome.output if outcome and outcome.passed else None,
            "output_sha256": _sha_or_none(store, saree_id, outcome.output)
            if outcome and outcome.passed
            else None,
            "regions": attempts[-1]["regions"] if attempts else [],
        }
    meta = {"generation": generation}
    store.write_json(
        saree_id,
        f"{prefix}/retry_log.json",
        {"generation": generation, "entries": retry_log},
        kind="retry_log",
        **meta,
    )
    retry_md = render_retry_log_md(generation, mode, retry_log, summary)
    store.write_artifact(
        saree_id, f"{prefix}/retry_log.md", retry_md.encode(), kind="retry_log_md", **meta
    )
    sheet = _write_contact_sheet(store, settings, log, outcomes, summary)
    all_passed = bool(outcomes) and all(o is not None and o.passed for o in outcomes.values())
    store.write_json(
        saree_id,
        f"{prefix}/metrics.json",
        {
            "generation": generation,
            "mode": mode,
            "pass": all_passed,
            "retries": sum(entry["retries"] for entry in summary.values()),
            "prepared_from_generation": prepared.generation,
            "prepared_sha256": prepared.sha256,
            "poses": summary,
        },
        kind="generation_metrics",
        **meta,
    )
    log.info(
        "generation_written",
        f"generation {generation}: retry log, contact sheet and metrics written",
        retry_log=f"{prefix}/retry_log.md",
        contact_sheet=sheet,
    )
    publish_summary(
        log, api_url=settings.api_url, generation=generation, contact_sheet=sheet,
        retry_log_md=retry_md,
    )  # fmt: skip
    failed = [pose for pose, entry in summary.items() if not entry["pass"]]
    if errors:
        # Something other than validation stopped a pose: the job fails with that error's own
        # category (DESIGN §10), not as if the images had been judged.
        category, message = next(iter(errors.values()))
        store.append_event(
            job_id,
            {
                "type": "job_finished",
                "status": "failed",
                "error_category": category,
                "message": f"Pose(s) {', '.join(errors)} could not be made: {message} "
                "Poses that passed stay published; retry_failed re-runs the rest.",
            },
        )
    elif failed:
        store.append_event(
            job_id,
            {
                "type": "job_finished",
                "status": "failed",
                "error_category": "validation_failed",
                "message": f"Pose(s) {', '.join(failed)} failed validation after all retries; "
                "the others are published. Use retry_failed to run them again.",
            },
        )
    else:
        store.append_event(job_id, {"type": "job_finished", "status": "success"})


def _write_contact_sheet(
    store: Store,
    settings: Settings,
    log: JobLog,
    outcomes: dict[str, AttemptOutcome | None],
    summary: dict[str, dict],
) -> str:
    """``generations/NNNN/contact_sheet.png``: every pose's latest image with its verdict."""
    saree_id, generation = log.saree_id, int(log.generation or 0)
    tiles = []
    for pose, outcome in outcomes.items():
        image = None
        if outcome is not None:
            try:
                image = decode_png(store.read_bytes(saree_id, outcome.output))
            except (SareeflowError, ValueError):  # an attempt cut short has no image
                image = None
        entry = summary[pose]
        tiles.append(
            SheetTile(
                pose=pose,
                label=entry["label"],
                passed=entry["pass"],
                attempts=entry["attempts"],
                image=image,
                note=", ".join(k.replace("_", " ") for k in outcome.failures) if outcome else "",
            )
        )
    passed = sum(tile.passed for tile in tiles)
    png = contact_sheet_png(
        tiles,
        title=f"Generation {generation:04d} - {log.mode} - {passed}/{len(tiles)} poses passed",
        compression=settings.png_compression,
    )
    relpath = f"generations/{generation:04d}/contact_sheet.png"
    store.write_artifact(saree_id, relpath, png, kind="contact_sheet", generation=generation)
    return relpath


def _sha_or_none(store: Store, saree_id: str, relpath: str) -> str | None:
    try:
        return store.artifact(saree_id, relpath).sha256
    except SareeflowError:
        return None


def _placement_json(placement) -> bytes:
    return (json.dumps(placement.record(), indent=2, sort_keys=True) + "\n").encode()


def _runner() -> ThreadPoolTaskRunner:
    return ThreadPoolTaskRunner(max_workers=get_settings().pose_concurrency)


@flow(
    name="standard",
    flow_run_name="standard-{saree_id}",
    task_runner=_runner(),
    validate_parameters=True,
)
def standard_flow(saree_id: str, job_id: str | None = None) -> dict:
    """Poses 01–04: a saree's first generation; prepares S_clean, S_flat and parts."""
    return run_job(saree_id, "standard", job_id)


@flow(
    name="extend",
    flow_run_name="extend-{saree_id}",
    task_runner=_runner(),
    validate_parameters=True,
)
def extend_flow(saree_id: str, job_id: str | None = None) -> dict:
    """Poses 05–12, reusing the prepared inputs of an earlier standard job."""
    return run_job(saree_id, "extend", job_id)


@flow(
    name="retry_failed",
    flow_run_name="retry-failed-{saree_id}",
    task_runner=_runner(),
    validate_parameters=True,
)
def retry_failed_flow(saree_id: str, job_id: str | None = None) -> dict:
    """Only the poses whose latest outcome failed, in a new generation."""
    return run_job(saree_id, "retry_failed", job_id)


FLOWS = {"standard": standard_flow, "extend": extend_flow, "retry_failed": retry_failed_flow}
"""mode → flow; the API and CLI never pass pose ids, only a mode."""

__all__ = ["FLOWS", "JobState", "extend_flow", "retry_failed_flow", "run_job", "standard_flow"]
