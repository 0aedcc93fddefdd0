"""The display-ready state of a saree's poses, derived from its job event logs and attempts.

The frontend shows this as-is: labels come from the catalogue, never from file names; the
actions say what the backend allows now, so the frontend never decides.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field

from sareeflow.errors import Conflict
from sareeflow.jobs import latest_pose_outcomes, poses_to_run, reconcile, saree_jobs
from sareeflow.poses import load_catalogue
from sareeflow.store import Store

GalleryStatus = Literal["not_started", "queued", "running", "passed", "failed"]


class RegionSummary(BaseModel):
    region: str
    passed: bool = Field(alias="pass")
    ssim: float
    delta_e: float
    pattern_score: float
    reasons: list[str] = []

    model_config = {"populate_by_name": True}


class GalleryPose(BaseModel):
    pose: str
    label: str
    status: GalleryStatus
    image: str | None = Field(None, description="Latest passing image (store-relative path).")
    image_sha256: str | None = None
    generation: int | None = None
    attempts: int = 0
    regions: list[RegionSummary] = []
    reasons: list[str] = []


class Actions(BaseModel):
    standard: bool
    extend: bool
    retry_failed: bool


class Gallery(BaseModel):
    saree_id: str
    active_job_id: str | None
    poses: list[GalleryPose]
    actions: Actions


def build_gallery(store: Store, saree_id: str) -> Gallery:
    store.require_saree(saree_id)
    catalogue = load_catalogue()
    jobs = [reconcile(store, state) for state in saree_jobs(store, saree_id)]
    active = next((job for job in jobs if not job.terminal), None)
    outcomes = latest_pose_outcomes(store, saree_id)
    passing: dict[str, tuple[int, str]] = {}
    for job in jobs:
        for pose in job.poses:
            if pose.status == "passed" and pose.output and job.generation is not None:
                passing[pose.pose] = (job.generation, pose.output)
    active_poses = {p.pose: p for p in active.poses} if active else {}
    entries = []
    for pose_id, spec in catalogue.poses.items():
        outcome = outcomes.get(pose_id)
        status: GalleryStatus = outcome.status if outcome else "not_started"  # type: ignore[assignment]
        if pose_id in active_poses:
            status = "queued" if active and active.status == "queued" else "running"
        entry = GalleryPose(pose=pose_id, label=spec.label, status=status)
        if outcome is not None:
            entry.attempts = outcome.attempts
            entry.reasons = outcome.reasons
            if outcome.attempt_dir:
                entry.regions = _regions(store, saree_id, outcome.attempt_dir)
        if pose_id in passing:
            entry.generation, entry.image = passing[pose_id]
            entry.image_sha256 = store.artifact(saree_id, entry.image).sha256
        entries.append(entry)
    return Gallery(
        saree_id=saree_id,
        active_job_id=active.job_id if active else None,
        poses=entries,
        actions=Actions(
            standard=active is None,
            extend=active is None and _allowed(store, saree_id, "extend"),
            retry_failed=active is None and _allowed(store, saree_id, "retry_failed"),
        ),
    )


def _allowed(store: Store, saree_id: str, mode: str) -> bool:
    try:
        poses_to_run(store, saree_id, mode)
        return True
    except Conflict:
        return False


def _regions(store: Store, saree_id: str, attempt_dir: str) -> list[RegionSummary]:
    try:
        metrics = json.loads(store.read_bytes(saree_id, f"{attempt_dir}/metrics.json"))
    except Exception:  # noqa: BLE001 - an attempt cut short by a crash has no metrics
        return []
    return [RegionSummary.model_validate(region) for region in metrics.get("regions", [])]
