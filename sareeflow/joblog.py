"""What happened in a job, for people: structured log lines and the readable retry log.

Every log line is one JSON object carrying the job, saree, mode, generation, stage, pose and
attempt (``null`` where one does not apply), so one pose's story can be pulled out of
``jobs/<job_id>/log.jsonl`` with ``grep``/``jq``. The same object goes to Prefect's run log
(the flow's or the pose task's), where operators read it in the UI. A log that cannot be
written never fails a job: logging is a record of the work, not part of it.

``render_retry_log_md`` turns a generation's retry log into Markdown a seller can read
(``generations/NNNN/retry_log.md``). It holds no ids or times, so the same work gives the
same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

from sareeflow.store import Store, now_iso

Level = Literal["debug", "info", "warning", "error"]

CONTEXT_KEYS: tuple[str, ...] = ("job", "saree", "mode", "generation", "stage", "pose", "attempt")
"""Keys present on every log line, in the order Prefect's copy shows them after the message."""

_LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

fallback_logger = logging.getLogger("sareeflow.job")
"""Where lines go when no Prefect run is active (a test calling a task's ``.fn``, a script)."""


@dataclasses.dataclass(frozen=True)
class JobLog:
    """A job's logger, bound to a context; ``bind`` narrows it (a stage, a pose, an attempt)."""

    store: Store
    job_id: str
    saree_id: str
    mode: str | None = None
    generation: int | None = None
    stage: str | None = None
    pose: str | None = None
    attempt: int | None = None

    def bind(self, **context: Any) -> JobLog:
        return dataclasses.replace(self, **context)

    def record(self, level: Level, event: str, message: str, **fields: Any) -> dict[str, Any]:
        """The line as a dict: message first, then the context, then the event's own fields."""
        return {
            "msg": message,
            "level": level,
            "event": event,
            "job": self.job_id,
            "saree": self.saree_id,
            "mode": self.mode,
            "generation": self.generation,
            "stage": self.stage,
            "pose": self.pose,
            "attempt": self.attempt,
            **fields,
        }

    def debug(self, event: str, message: str, **fields: Any) -> None:
        self.log("debug", event, message, **fields)

    def info(self, event: str, message: str, **fields: Any) -> None:
        self.log("info", event, message, **fields)

    def warning(self, event: str, message: str, **fields: Any) -> None:
        self.log("warning", event, message, **fields)

    def error(self, event: str, message: str, **fields: Any) -> None:
        self.log("error", event, message, **fields)

    def log(self, level: Level, event: str, message: str, **fields: Any) -> None:
        """Append the line to the job's log file and send it to the active Prefect run log."""
        line = self.record(level, event, message, **fields)
        try:
            self.store.append_log(self.job_id, {"at": now_iso(), **line})
        except Exception as exc:  # noqa: BLE001 - a log line must never end a job
            fallback_logger.warning("job %s: log line not stored: %r", self.job_id, exc)
        run_logger().log(_LEVELS[level], json.dumps(line, ensure_ascii=False, default=str))


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's logger of the current flow or task run, or the plain one outside any run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return fallback_logger


def read_log(store: Store, job_id: str) -> list[dict]:
    """Every stored line of a job's log, oldest first."""
    from sareeflow.store import read_lines

    return read_lines(store.job_dir(job_id) / "log.jsonl")


# ------------------------------------------------------------------ the readable retry log
def render_retry_log_md(
    generation: int,
    mode: str,
    entries: Iterable[Mapping[str, Any]],
    summary: Mapping[str, Mapping[str, Any]],
) -> str:
    """A generation's retry log as Markdown: a table of poses, then each pose's attempts.

    ``entries`` are ``retry_log.json``'s entries (pose, attempt, pass, failures, reasons,
    injected_defect, seed); ``summary`` is ``metrics.json``'s ``poses`` (label, pass, attempts).
    """
    by_pose: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        by_pose.setdefault(str(entry["pose"]), []).append(entry)
    passed = sum(1 for item in summary.values() if item.get("pass"))
    retries = sum(max(int(item.get("attempts", 0)) - 1, 0) for item in summary.values())
    lines = [
        f"# Retry log: generation {generation} ({mode})",
        "",
        f"{len(summary)} pose{'s' if len(summary) != 1 else ''}: {passed} passed, "
        f"{len(summary) - passed} failed, {retries} retr{'ies' if retries != 1 else 'y'}.",
        "",
        "| pose | label | result | attempts |",
        "|---|---|---|---|",
    ]
    for pose, item in summary.items():
        result = "passed" if item.get("pass") else "**failed**"
        lines.append(
            f"| {pose} | {_cell(item.get('label', pose))} | {result} | {item.get('attempts', 0)} |"
        )
    for pose, item in summary.items():
        attempts = by_pose.get(pose, [])
        verdict = "passed" if item.get("pass") else "failed"
        count = len(attempts)
        lines += [
            "",
            f"## {pose} {item.get('label', pose)}: {verdict} after {count} attempt{'s' if count != 1 else ''}",
            "",
        ]
        if not attempts:
            lines.append("- No attempt finished (the job stopped first).")
        for entry in attempts:
            lines.extend(_attempt_lines(entry))
    return "\n".join(lines) + "\n"


def _attempt_lines(entry: Mapping[str, Any]) -> list[str]:
    head = f"- Attempt {entry['attempt']}: {'passed' if entry.get('pass') else 'failed'}"
    if entry.get("failures"):
        head += f" ({', '.join(str(kind).replace('_', ' ') for kind in entry['failures'])})"
    if entry.get("injected_defect"):
        head += f"; defect injected for testing: {str(entry['injected_defect']).replace('_', ' ')}"
    return [head + "."] + [f"  - {reason}" for reason in entry.get("reasons") or []]


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")
