"""Public request/response models, split by use (``*Create`` in, ``*Public`` out).

They are built from the domain models (``sareeflow.jobs``, ``sareeflow.gallery``, the store's
records) and differ from them on purpose: store-relative file paths become artifact URLs, and
nothing that carries prompts, raw model I/O or server paths is exposed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.urls import Urls
from sareeflow.gallery import Gallery, GalleryStatus
from sareeflow.jobs import JobState, JobStatus, Mode, PoseStatus
from sareeflow.store import ArtifactRecord, SareeRecord


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is returned (``application/problem+json``)."""

    type: str = Field(examples=["urn:sareeflow:problem:conflict"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["This saree already has a job in progress."])
    category: str = Field(
        description="invalid_input | not_found | conflict | validation_failed | "
        "adapter_unavailable | orchestrator_unavailable | storage | crashed | internal",
        examples=["conflict"],
    )


# ---------------------------------------------------------------------------------- sarees
class SareeLinks(BaseModel):
    self: str
    jobs: str = Field(description="POST here to start a job.")
    gallery: str
    artifacts: str
    original: str = Field(description="The photo as uploaded.")


class JobSummary(BaseModel):
    job_id: str
    mode: Mode
    status: JobStatus
    created_at: str
    url: str


class SareePublic(BaseModel):
    saree_id: str
    created_at: str
    original_filename: str
    original_format: str
    original_size: tuple[int, int] = Field(description="(width, height) of the upload in pixels.")
    notes: list[str] = Field(description="What normalisation did to the upload, for people.")
    jobs: list[JobSummary] = []
    links: SareeLinks

    @classmethod
    def build(cls, record: SareeRecord, jobs: list[JobState], urls: Urls) -> SareePublic:
        sid = record.saree_id
        return cls(
            saree_id=sid,
            created_at=record.created_at,
            original_filename=record.original_filename,
            original_format=record.original_format,
            original_size=record.original_size,
            notes=record.notes,
            jobs=[
                JobSummary(
                    job_id=j.job_id,
                    mode=j.mode,
                    status=j.status,
                    created_at=j.created_at,
                    url=urls.job(j.job_id),
                )
                for j in jobs
            ],
            links=saree_links(record, urls),
        )


def saree_links(record: SareeRecord, urls: Urls) -> SareeLinks:
    sid = record.saree_id
    return SareeLinks(
        self=urls.saree(sid),
        jobs=urls.saree_jobs(sid),
        gallery=urls.gallery(sid),
        artifacts=urls.artifacts(sid),
        original=urls.artifact(sid, record.original_path),
    )


# ---------------------------------------------------------------------------------- jobs
class JobCreate(BaseModel):
    """Which work to do; the backend decides the poses (clients never pass pose ids)."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(
        description="standard: poses 01–04; extend: 05–12 (needs a finished standard job); "
        "retry_failed: the poses whose latest outcome failed."
    )


class PosePublic(BaseModel):
    pose: str
    label: str
    status: PoseStatus
    attempts: int
    image_url: str | None = Field(None, description="The published image, once the pose passed.")
    reasons: list[str] = Field(description="Why the latest attempt failed validation, for people.")


class ProgressPublic(BaseModel):
    done: int
    total: int


class JobErrorPublic(BaseModel):
    category: str
    message: str


class JobLinks(BaseModel):
    self: str
    saree: str
    gallery: str


class JobPublic(BaseModel):
    """A job's state (DESIGN §5); poll ``links.self`` until ``status`` is success or failed."""

    job_id: str
    saree_id: str
    mode: Mode
    status: JobStatus
    current_stage: str | None
    retries: int = Field(description="Attempts beyond the first, summed over the poses.")
    created_at: str
    updated_at: str
    generation: int | None
    flow_run_id: str | None = Field(description="The Prefect flow run, for operators.")
    progress: ProgressPublic
    poses: list[PosePublic]
    error: JobErrorPublic | None
    links: JobLinks

    @classmethod
    def build(cls, state: JobState, urls: Urls) -> JobPublic:
        sid = state.saree_id
        return cls(
            job_id=state.job_id,
            saree_id=sid,
            mode=state.mode,
            status=state.status,
            current_stage=state.current_stage,
            retries=state.retries,
            created_at=state.created_at,
            updated_at=state.updated_at,
            generation=state.generation,
            flow_run_id=state.flow_run_id,
            progress=ProgressPublic(done=state.progress.done, total=state.progress.total),
            poses=[
                PosePublic(
                    pose=p.pose,
                    label=p.label,
                    status=p.status,
                    attempts=p.attempts,
                    image_url=urls.artifact(sid, p.output)
                    if p.status == "passed" and p.output
                    else None,
                    reasons=p.reasons,
                )
                for p in state.poses
            ],
            error=JobErrorPublic(category=state.error.category, message=state.error.message)
            if state.error
            else None,
            links=JobLinks(
                self=urls.job(state.job_id), saree=urls.saree(sid), gallery=urls.gallery(sid)
            ),
        )


# ---------------------------------------------------------------------------------- gallery
class RegionPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    region: str
    passed: bool = Field(alias="pass")
    ssim: float
    delta_e: float
    pattern_score: float
    reasons: list[str] = []


class GalleryPosePublic(BaseModel):
    pose: str
    label: str = Field(description="Display label from the pose catalogue.")
    status: GalleryStatus
    image_url: str | None = Field(None, description="The latest passing image of this pose.")
    image_sha256: str | None = None
    generation: int | None = Field(None, description="The generation that made image_url.")
    attempts: int
    regions: list[RegionPublic] = Field(description="Region checks of the latest finished attempt.")
    reasons: list[str]


class ActionsPublic(BaseModel):
    """Which jobs the backend would accept now; the frontend enables buttons from this."""

    standard: bool
    extend: bool
    retry_failed: bool


class GalleryPublic(BaseModel):
    saree_id: str
    active_job_id: str | None
    poses: list[GalleryPosePublic]
    actions: ActionsPublic
    links: SareeLinks

    @classmethod
    def build(cls, gallery: Gallery, record: SareeRecord, urls: Urls) -> GalleryPublic:
        sid = gallery.saree_id
        return cls(
            saree_id=sid,
            active_job_id=gallery.active_job_id,
            poses=[
                GalleryPosePublic(
                    pose=p.pose,
                    label=p.label,
                    status=p.status,
                    image_url=urls.artifact(sid, p.image) if p.image else None,
                    image_sha256=p.image_sha256,
                    generation=p.generation,
                    attempts=p.attempts,
                    regions=[
                        RegionPublic.model_validate(r.model_dump(by_alias=True)) for r in p.regions
                    ],
                    reasons=p.reasons,
                )
                for p in gallery.poses
            ],
            actions=ActionsPublic(**gallery.actions.model_dump()),
            links=saree_links(record, urls),
        )


# ---------------------------------------------------------------------------------- artifacts
class ArtifactPublic(BaseModel):
    kind: str = Field(examples=["pose_output"])
    generation: int | None
    pose: str | None
    label: str | None = Field(None, description="The pose's display label, when pose is set.")
    attempt: int | None
    sha256: str = Field(description="Also the download's strong ETag.")
    size: int = Field(description="Bytes.")
    created_at: str
    url: str


class ArtifactsPublic(BaseModel):
    """Every stored artifact of a saree, in write order, except those carrying prompts or raw
    model input/output (kinds ``adapter_input`` and ``adapter_output``)."""

    saree_id: str
    count: int
    artifacts: list[ArtifactPublic]

    @classmethod
    def build(
        cls, saree_id: str, records: list[ArtifactRecord], labels: dict[str, str], urls: Urls
    ) -> ArtifactsPublic:
        items = [
            ArtifactPublic(
                kind=r.kind,
                generation=r.generation,
                pose=r.pose,
                label=labels.get(r.pose, r.pose) if r.pose else None,
                attempt=r.attempt,
                sha256=r.sha256,
                size=r.size,
                created_at=r.created_at,
                url=urls.artifact(saree_id, r.path),
            )
            for r in records
        ]
        return cls(saree_id=saree_id, count=len(items), artifacts=items)


# ---------------------------------------------------------------------------------- health
class HealthPublic(BaseModel):
    status: str = Field(description="ok, or degraded when the storage root is not writable.")
    storage_writable: bool
