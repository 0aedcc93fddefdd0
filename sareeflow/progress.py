"""A one-line progress bar for the CLI's long commands (``demo``, ``run``, ``generate --wait``).

Drawn on stderr, and only when stderr is a terminal and ``--json`` was not asked for, so
piped or machine-read output never contains it. It needs no library: the line is redrawn in
place with ``\\r``::

    pose 02 attempt 1 failed: Border 'band_border_top' is distorted: it drifts up to 8.1 px ...
    pose 01 Front drape: passed after 1 attempt
    [##########----------] 2/4 poses  stage: compose  retries: 1

Each failed attempt and each finished pose is printed once above the bar, so the reasons stay
readable after the bar has moved on.
``run``/``demo`` execute the flow in this process, so a :class:`JobWatcher` thread folds the
job's event log (the same state the API serves) a few times a second; ``generate --wait``
feeds the states it polls from the API to :meth:`ProgressLine.update`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, TextIO

BAR_WIDTH = 20
"""Characters in the bar."""
WATCH_INTERVAL_S = 0.25
"""How often the watcher re-reads the job's events (s); a fold of a small log takes ~1 ms."""
CLEAR_LINE = "\r\x1b[2K"
"""Carriage return + ANSI 'erase line': the next draw replaces the previous one."""


def progress_wanted(json_output: bool, stream: TextIO | None = None) -> bool:
    """True when a bar may be drawn: not ``--json`` and ``stream`` (stderr) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    if json_output:
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def render_line(state: Mapping[str, Any], width: int = BAR_WIDTH) -> str:
    """The progress line for a job state (``JobState``/``JobPublic`` as a dict)."""
    progress = state.get("progress") or {}
    done, total = int(progress.get("done", 0)), int(progress.get("total", 0))
    filled = round(width * done / total) if total else 0
    parts = [f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total or '?'} poses"]
    status = state.get("status")
    if status in ("queued", "success", "failed"):
        parts.append(str(status))
    elif state.get("current_stage"):
        parts.append(f"stage: {state['current_stage']}")
    if state.get("retries"):
        parts.append(f"retries: {state['retries']}")
    return "  ".join(parts)


def pose_news(state: Mapping[str, Any], seen: dict[str, tuple[int, str]]) -> list[str]:
    """Lines for what changed since ``seen`` (updated in place): failed attempts, finished poses."""
    news = []
    for pose in state.get("poses") or []:
        key = (int(pose.get("attempts", 0)), str(pose.get("status")))
        before = seen.get(pose["pose"], (0, "pending"))
        if key == before:
            continue
        seen[pose["pose"]] = key
        attempts, status = key
        if status in ("passed", "failed") and before[1] not in ("passed", "failed"):
            plural = "s" if attempts != 1 else ""
            news.append(
                f"pose {pose['pose']} {pose.get('label', '')}: {status} after {attempts} attempt{plural}"
            )
        elif attempts > before[0] and pose.get("reasons"):
            reasons = list(pose["reasons"])
            more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
            news.append(f"pose {pose['pose']} attempt {attempts} failed: {reasons[0]}{more}")
    return news


class ProgressLine:
    """Redraws one line on ``stream``; does nothing at all when ``enabled`` is False."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self._last = ""
        self._seen: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def update(self, state: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        line = render_line(state)
        with self._lock:
            news = pose_news(state, self._seen)
            if line == self._last and not news:
                return
            self.stream.write(CLEAR_LINE + "".join(f"{item}\n" for item in news) + line)
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        """End the line (the final state stays visible above whatever is printed next)."""
        if not self.enabled:
            return
        with self._lock:
            if self._last:
                self.stream.write("\n")
                self.stream.flush()
                self._last = ""


class JobWatcher(threading.Thread):
    """Calls ``on_state`` with the job's folded state every ``interval_s`` until stopped."""

    def __init__(
        self,
        read_state: Callable[[], Mapping[str, Any]],
        on_state: Callable[[Mapping[str, Any]], None],
        *,
        interval_s: float = WATCH_INTERVAL_S,
    ) -> None:
        super().__init__(name="sareeflow-progress", daemon=True)
        self.read_state = read_state
        self.on_state = on_state
        self.interval_s = interval_s
        self._halt = threading.Event()

    def run(self) -> None:
        while True:
            self._poll()
            if self._halt.wait(self.interval_s):
                break
        self._poll()  # the final state, once the job has written it

    def _poll(self) -> None:
        try:
            self.on_state(self.read_state())
        except Exception:  # noqa: BLE001 - a progress bar never breaks the command
            pass

    def stop(self) -> None:
        self._halt.set()
        self.join()
