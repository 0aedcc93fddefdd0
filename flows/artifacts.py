"""What the Prefect UI shows an operator about a job, besides run names and logs (issue 7).

* tags on the flow run and every task run: ``saree:<id>``, ``mode:<mode>``, ``job:<id>``;
* per pose, attached to the pose's task run: a table of every attempt's region checks
  (key ``saree-<id>-pose-PP-checks``) and a Markdown page with each attempt's image (through
  the API's artifact URL) and why it failed (key ``saree-<id>-pose-PP-attempts``);
* per job, a progress artifact (key ``job-<id>-progress``) and a summary with the generation's
  contact sheet and retry log (key ``saree-<id>-summary``).

Keys repeat per saree, so Prefect's Artifacts page shows the latest of each and keeps the
earlier generations as versions. Everything here is best effort: if the Prefect API refuses
(or is away) the job goes on and a warning is logged; the store remains the record.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from api.urls import API_V1, Urls
from sareeflow.joblog import JobLog, run_logger

T = TypeVar("T")

_NOT_KEY = re.compile(r"[^a-z0-9-]+")
FIGURE_DIGITS = 3
"""Decimals shown for SSIM, ΔE and pattern figures in tables."""
THUMBNAIL_WIDTH_PX = 240
"""Width of an attempt's image in the Markdown artifact (Prefect's UI renders ``<img width>``;
a plain Markdown image would fill the page). The image links to the full-size file."""


def artifact_key(*parts: str) -> str:
    """A valid Prefect artifact key (lowercase letters, digits, dashes) from ``parts``."""
    joined = "-".join(parts).lower()
    return _NOT_KEY.sub("-", joined).strip("-")


def run_tags(saree_id: str, mode: str, job_id: str) -> tuple[str, ...]:
    """Tags an operator filters runs by (Prefect's run list filters on tags)."""
    return (f"saree:{saree_id}", f"mode:{mode}", f"job:{job_id}")


def best_effort(what: str, create: Callable[[], T], log: JobLog | None = None) -> T | None:
    """Run one Prefect API call for the UI; on any error log a warning and return None."""
    try:
        return create()
    except Exception as exc:  # noqa: BLE001 - the UI's extras never fail a job
        message = f"Prefect artifact '{what}' not created: {exc!r}"
        if log is not None:
            log.warning("artifact_failed", message, artifact=what)
        else:
            run_logger().warning(message)
        return None


def tag_flow_run(flow_run_id: str | UUID, tags: Iterable[str]) -> None:
    """Add ``tags`` to an existing flow run (a deployment run is created before we know them)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(str(flow_run_id)))
        wanted = list(dict.fromkeys([*run.tags, *tags]))
        if wanted != list(run.tags):
            client.update_flow_run(run.id, tags=wanted)


def artifact_url(api_url: str, saree_id: str, relpath: str) -> str:
    """The absolute URL the API serves a stored artifact at."""
    return Urls(base=f"{api_url.rstrip('/')}{API_V1}").artifact(saree_id, relpath)


# ------------------------------------------------------------------ progress
class JobProgress:
    """The job's progress artifact: created at 0 %, moved on as poses finish."""

    def __init__(self, log: JobLog, total: int) -> None:
        from prefect.artifacts import create_progress_artifact

        self.log = log
        self.total = max(total, 1)
        self.artifact_id: UUID | None = best_effort(
            "progress",
            lambda: create_progress_artifact(
                0.0,
                key=artifact_key("job", log.job_id, "progress"),
                description=self._description(0),
            ),
            log,
        )

    def _description(self, done: int) -> str:
        return f"{self.log.mode} job {self.log.job_id}: {done}/{self.total} poses finished"

    def update(self, done: int) -> None:
        from prefect.artifacts import update_progress_artifact

        if self.artifact_id is None:
            return
        artifact_id = self.artifact_id
        best_effort(
            "progress",
            lambda: update_progress_artifact(
                artifact_id, 100.0 * done / self.total, description=self._description(done)
            ),
            self.log,
        )


# ------------------------------------------------------------------ per pose
def region_rows(attempts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One table row per region per attempt, the figures validation measured."""
    rows = []
    for record in attempts:
        for region in record.get("regions", []):
            rows.append(
                {
                    "attempt": record["attempt"],
                    "region": region["region"],
                    "kind": region.get("kind"),
                    "pass": "pass" if region.get("pass") else "FAIL",
                    "ssim": _round(region.get("ssim")),
                    "delta_e": _round(region.get("delta_e")),
                    "pattern_score": _round(region.get("pattern_score")),
                    "border_continuity": _round(region.get("border_continuity")),
                    "border_max_offset_px": _round(region.get("border_max_offset_px")),
                    "failures": ", ".join(region.get("failures") or []),
                }
            )
    return rows


def attempts_markdown(
    *,
    api_url: str,
    saree_id: str,
    generation: int,
    pose: str,
    label: str,
    passed: bool,
    attempts: list[Mapping[str, Any]],
    attempt_dirs: Mapping[int, str],
) -> str:
    """Each attempt's image (via the API) and, for a failed one, the reasons validation gave."""
    verdict = "passed" if passed else "failed"
    lines = [
        f"## Pose {pose} · {label}: {verdict} after {len(attempts)} attempt"
        f"{'s' if len(attempts) != 1 else ''}",
        "",
        f"Saree `{saree_id}`, generation {generation}. Images are served by the sareeflow API "
        f"at {api_url}; click one for full size.",
    ]
    for record in attempts:
        number = int(record["attempt"])
        ok = bool(record.get("pass"))
        title = f"### Attempt {number}: {'passed' if ok else 'failed'}"
        if record.get("failures"):
            title += f" ({', '.join(k.replace('_', ' ') for k in record['failures'])})"
        lines += ["", title, ""]
        if record.get("injected_defect"):
            lines += [f"_Defect injected for testing: {record['injected_defect']}._", ""]
        if record.get("reasons"):
            lines += [f"- {reason}" for reason in record["reasons"]] + [""]
        if number in attempt_dirs:
            url = artifact_url(api_url, saree_id, f"{attempt_dirs[number]}/output.png")
            lines.append(_thumbnail(url, f"pose {pose} attempt {number}"))
    return "\n".join(lines).rstrip() + "\n"


def _thumbnail(url: str, alt: str) -> str:
    """An image at ``THUMBNAIL_WIDTH_PX`` that links to the full-size file."""
    src, text = html.escape(url, quote=True), html.escape(alt, quote=True)
    return f'<a href="{src}"><img src="{src}" width="{THUMBNAIL_WIDTH_PX}" alt="{text}"></a>'


def publish_pose_artifacts(
    log: JobLog,
    *,
    api_url: str,
    generation: int,
    pose: str,
    label: str,
    passed: bool,
    attempts: list[Mapping[str, Any]],
    attempt_dirs: Mapping[int, str],
    task_run_id: UUID | None,
) -> None:
    """The pose's region-check table and attempts page, attached to its task run."""
    from prefect.artifacts import MarkdownArtifact, TableArtifact

    sid = log.saree_id
    verdict = "passed" if passed else "failed"
    best_effort(
        f"pose-{pose}-checks",
        lambda: TableArtifact(
            key=artifact_key("saree", sid, "pose", pose, "checks"),
            description=f"Pose {pose} ({label}), generation {generation}: region checks of "
            f"every attempt; {verdict}.",
            table=region_rows(attempts),
            task_run_id=task_run_id,
        ).create(),
        log,
    )
    best_effort(
        f"pose-{pose}-attempts",
        lambda: MarkdownArtifact(
            key=artifact_key("saree", sid, "pose", pose, "attempts"),
            description=f"Pose {pose} ({label}), generation {generation}: images and failure "
            "reasons of every attempt.",
            markdown=attempts_markdown(
                api_url=api_url,
                saree_id=sid,
                generation=generation,
                pose=pose,
                label=label,
                passed=passed,
                attempts=attempts,
                attempt_dirs=attempt_dirs,
            ),
            task_run_id=task_run_id,
        ).create(),
        log,
    )


def publish_summary(
    log: JobLog, *, api_url: str, generation: int, contact_sheet: str | None, retry_log_md: str
) -> None:
    """The generation at a glance: its contact sheet and readable retry log."""
    from prefect.artifacts import create_markdown_artifact

    sid = log.saree_id
    parts = []
    if contact_sheet:
        url = artifact_url(api_url, sid, contact_sheet)
        parts += [f"![contact sheet, generation {generation}]({url})", ""]  # full width: a sheet
    parts.append(retry_log_md)
    best_effort(
        "summary",
        lambda: create_markdown_artifact(
            "\n".join(parts),
            key=artifact_key("saree", sid, "summary"),
            description=f"{log.mode} job {log.job_id}, generation {generation}: contact sheet "
            "and retry log.",
        ),
        log,
    )


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), FIGURE_DIGITS)
