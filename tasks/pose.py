"""One pose of a generation: compose → (inject) → validate, retried by Prefect (DESIGN §6).

Prefect keeps no per-attempt failure detail and ignores parameter changes made between retries,
so every attempt persists its own ``metrics.json`` and the next attempt reads the earlier ones
back from the store to build its constraints. The attempt number is also taken from the store
(the count of earlier attempt folders), which keeps it right after a crash and without Prefect.

In Prefect's UI a pose is one task run, ``pose-PP``; its attempts are that run's retries, each
with two nested task runs, ``compose-PP-attempt-K`` and ``validate-PP-attempt-K`` (the stages'
shells over :func:`compose_attempt` and :func:`validate_attempt`), and every log line names the
attempt (and Prefect's ``run_count``) next to job, saree and pose.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from prefect import runtime, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from adapters import get_adapter
from sareeflow.constraints import build_constraints
from sareeflow.defects import apply_defect
from sareeflow.errors import RETRYABLE, ValidationFailed
from sareeflow.imaging import encode_png
from sareeflow.injection import defect_for, parse_injection
from sareeflow.joblog import JobLog
from sareeflow.models import AdapterRequestLog, PlacementMap, ValidationReport
from sareeflow.settings import Settings
from sareeflow.store import Store, sha256_hex
from tasks.compose import compose_pose
from tasks.validate import validate_output


class PoseJob(BaseModel):
    """What a pose attempt needs to know about its job (small, so Prefect can show it)."""

    job_id: str
    saree_id: str
    mode: str | None = None
    generation: int
    upload_sha256: str
    s_flat_path: str
    s_flat_sha256: str


class AttemptOutcome(BaseModel):
    pose: str
    attempt: int
    passed: bool
    attempt_dir: str
    output: str
    failures: list[str]
    reasons: list[str]


def pose_dir(generation: int, pose: str) -> str:
    return f"generations/{generation:04d}/poses/{pose}"


def attempt_seed(upload_sha256: str, generation: int, pose: str, attempt: int) -> int:
    """A seed that depends only on content and position, never on ids or time."""
    digest = hashlib.sha256(f"{upload_sha256}:{generation}:{pose}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def earlier_attempts(store: Store, saree_id: str, generation: int, pose: str) -> list[dict]:
    """Stored metrics of a pose's attempts in one generation, oldest first."""
    base = store.resolve(saree_id, pose_dir(generation, pose))
    if not base.is_dir():
        return []
    numbers = sorted(int(p.name.split("-")[1]) for p in base.glob("attempt-*") if p.is_dir())
    found = []
    for number in numbers:
        metrics = base / f"attempt-{number}" / "metrics.json"
        if metrics.is_file():
            found.append(json.loads(metrics.read_bytes()))
    return found


def next_attempt_number(store: Store, job: PoseJob, pose: str) -> int:
    base = store.resolve(job.saree_id, pose_dir(job.generation, pose))
    if not base.is_dir():
        return 1
    return 1 + sum(1 for p in base.glob("attempt-*") if p.is_dir())


@dataclass(frozen=True)
class ComposedAttempt:
    """What compose hands to validate: the output as stored, and how it was made."""

    attempt: int
    seed: int
    output: np.ndarray
    injected: str | None


def compose_attempt(
    store: Store,
    settings: Settings,
    job: PoseJob,
    pose: str,
    attempt: int,
    s_flat: np.ndarray,
    placement: PlacementMap,
    placement_sha256: str,
) -> ComposedAttempt:
    """Compose one attempt through the configured adapter, with the constraints the earlier
    attempts' failures call for; stores the adapter's input log, the output and its log."""
    rel = f"{pose_dir(job.generation, pose)}/attempt-{attempt}"
    meta = {"generation": job.generation, "pose": pose, "attempt": attempt}
    earlier = earlier_attempts(store, job.saree_id, job.generation, pose)
    instructions, forbidden = build_constraints(
        [kind for record in earlier for kind in record["failures"]],
        [reason for record in earlier for reason in record["reasons"]],
    )
    seed = attempt_seed(job.upload_sha256, job.generation, pose, attempt)
    adapter = get_adapter("compose", settings)
    request = AdapterRequestLog(
        adapter=adapter.name,
        stage="compose",
        seed=seed,
        strict_instructions=instructions,
        forbidden_changes=forbidden,
        image_sha256=job.s_flat_sha256,
        placement_sha256=placement_sha256,
        pose=pose,
        attempt=attempt,
    )
    store.write_json(
        job.saree_id, f"{rel}/adapter_input.json", request, kind="adapter_input", **meta
    )

    result = compose_pose(s_flat, placement, adapter, seed, instructions, forbidden)
    output = result.image
    injected = defect_for(parse_injection(settings.failure_injection), pose, attempt)
    if injected:
        output = apply_defect(injected, output, placement, seed=seed)
    png = encode_png(output, compression=settings.png_compression)
    store.write_artifact(job.saree_id, f"{rel}/output.png", png, kind="pose_output", **meta)
    store.write_json(
        job.saree_id,
        f"{rel}/adapter_output.json",
        {"adapter": adapter.name, "output_sha256": sha256_hex(png), "info": result.info},
        kind="adapter_output",
        **meta,
    )
    return ComposedAttempt(attempt=attempt, seed=seed, output=output, injected=injected)


def validate_attempt(
    store: Store,
    settings: Settings,
    job: PoseJob,
    pose: str,
    composed: ComposedAttempt,
    s_flat: np.ndarray,
    placement: PlacementMap,
) -> AttemptOutcome:
    """Check the stored output region by region; stores its metrics and records the outcome."""
    attempt = composed.attempt
    rel = f"{pose_dir(job.generation, pose)}/attempt-{attempt}"
    meta = {"generation": job.generation, "pose": pose, "attempt": attempt}
    report = validate_output(composed.output, placement, s_flat, thresholds=settings.thresholds)
    store.write_json(
        job.saree_id,
        f"{rel}/metrics.json",
        _attempt_metrics(
            report,
            attempt=attempt,
            seed=composed.seed,
            injected=composed.injected,
            inputs={
                "s_flat": job.s_flat_path,
                "placement": f"{pose_dir(job.generation, pose)}/placement.json",
            },
        ),
        kind="pose_metrics",
        **meta,
    )
    outcome = AttemptOutcome(
        pose=pose,
        attempt=attempt,
        passed=report.passed,
        attempt_dir=rel,
        output=f"{rel}/output.png",
        failures=list(report.failures),
        reasons=report.reasons,
    )
    store.append_event(job.job_id, {"type": "attempt_finished", **outcome.model_dump()})
    return outcome


@task(name="compose", task_run_name="compose-{pose}-attempt-{attempt}", cache_policy=NO_CACHE)
def compose_task(
    settings: Settings,
    job: PoseJob,
    pose: str,
    attempt: int,
    s_flat: np.ndarray,
    placement: PlacementMap,
    placement_sha256: str,
) -> ComposedAttempt:
    """Prefect shell of :func:`compose_attempt` (one task run per attempt, named by it)."""
    store = Store(settings.storage_root)
    return compose_attempt(store, settings, job, pose, attempt, s_flat, placement, placement_sha256)


@task(name="validate", task_run_name="validate-{pose}-attempt-{attempt}", cache_policy=NO_CACHE)
def validate_task(
    settings: Settings,
    job: PoseJob,
    pose: str,
    attempt: int,
    composed: ComposedAttempt,
    s_flat: np.ndarray,
    placement: PlacementMap,
) -> AttemptOutcome:
    """Prefect shell of :func:`validate_attempt`."""
    store = Store(settings.storage_root)
    return validate_attempt(store, settings, job, pose, composed, s_flat, placement)


def _attempt_metrics(
    report: ValidationReport,
    *,
    attempt: int,
    seed: int,
    injected: str | None,
    inputs: dict[str, str],
) -> dict:
    return {
        "inputs": inputs,
        "pose": report.pose,
        "attempt": attempt,
        "seed": seed,
        "pass": report.passed,
        "failures": list(report.failures),
        "reasons": report.reasons,
        "regions": [check.model_dump(mode="json", by_alias=True) for check in report.regions],
        # Recorded for operators reading the retry log; validation never sees it.
        "injected_defect": injected,
    }


def retry_only_retryable(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry validation failures and transient adapter errors."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, RETRYABLE)


@task(
    name="pose",
    task_run_name="pose-{pose}",
    retries=3,
    retry_delay_seconds=0,
    retry_condition_fn=retry_only_retryable,
    cache_policy=NO_CACHE,
)
def pose_task(
    settings: Settings,
    job: PoseJob,
    pose: str,
    s_flat: np.ndarray,
    placement: PlacementMap,
    placement_sha256: str,
) -> AttemptOutcome:
    """Compose and validate one pose; a failed validation raises so Prefect retries it."""
    store = Store(settings.storage_root)
    log = JobLog(
        store,
        job.job_id,
        job.saree_id,
        mode=job.mode,
        generation=job.generation,
        stage="compose",
        pose=pose,
        attempt=next_attempt_number(store, job, pose),
    )
    run_count = runtime.task_run.run_count or None
    log.info(
        "attempt_started",
        f"pose {pose} attempt {log.attempt} started",
        prefect_run_count=run_count,
    )
    attempt = int(log.attempt or 1)
    try:
        # Claimed before anything is written: a crashed attempt keeps its number.
        store.resolve(job.saree_id, f"{pose_dir(job.generation, pose)}/attempt-{attempt}").mkdir(
            parents=True, exist_ok=False
        )
        composed = compose_task(settings, job, pose, attempt, s_flat, placement, placement_sha256)
        outcome = validate_task(settings, job, pose, attempt, composed, s_flat, placement)
    except Exception as exc:
        log.error(
            "attempt_error",
            f"pose {pose} attempt {log.attempt} stopped: {exc!r}",
            prefect_run_count=run_count,
        )
        raise
    log = log.bind(attempt=outcome.attempt)
    figures = _region_figures(outcome, store, job)
    if outcome.passed:
        log.info(
            "attempt_finished",
            f"pose {pose} attempt {outcome.attempt} passed",
            passed=True,
            prefect_run_count=run_count,
            regions=figures,
        )
        return outcome
    log.warning(
        "attempt_finished",
        f"pose {pose} attempt {outcome.attempt} failed: {' '.join(outcome.reasons)}",
        passed=False,
        failures=outcome.failures,
        reasons=outcome.reasons,
        prefect_run_count=run_count,
        regions=figures,
    )
    raise ValidationFailed(
        f"Pose {pose} attempt {outcome.attempt} failed validation.", reasons=outcome.reasons
    )


def _region_figures(outcome: AttemptOutcome, store: Store, job: PoseJob) -> list[dict]:
    """Compact per-region figures of an attempt for its log line (pass, SSIM, ΔE, pattern)."""
    try:
        metrics = store.read_json(job.saree_id, f"{outcome.attempt_dir}/metrics.json")
    except Exception:  # noqa: BLE001 - the log line goes out without figures
        return []
    return [
        {
            "region": r["region"],
            "pass": r["pass"],
            "ssim": round(r["ssim"], 3),
            "delta_e": round(r["delta_e"], 2),
            "pattern_score": round(r["pattern_score"], 3),
        }
        for r in metrics.get("regions", [])
    ]
