"""The CLI progress line: drawn only on a terminal without --json, and saying what happened."""

from __future__ import annotations

import io
import threading

from sareeflow.progress import CLEAR_LINE, JobWatcher, ProgressLine, progress_wanted, render_line


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _state(done, total, status="running", stage="compose", poses=(), retries=0):
    return {"status": status, "current_stage": stage, "progress": {"done": done, "total": total},
            "retries": retries, "poses": list(poses)}  # fmt: skip


def test_bar_only_on_a_terminal_and_never_with_json():
    assert progress_wanted(False, Tty()) is True
    assert progress_wanted(True, Tty()) is False
    assert progress_wanted(False, io.StringIO()) is False


def test_render_line_shows_fraction_stage_and_retries():
    assert (
        render_line(_state(2, 4, retries=1), width=8)
        == "[####----] 2/4 poses  stage: compose  retries: 1"
    )
    assert (
        render_line(_state(0, 0, status="queued", stage=None), width=4)
        == "[----] 0/? poses  queued"
    )
    assert render_line(_state(4, 4, status="success"), width=4) == "[####] 4/4 poses  success"


def test_failed_attempts_and_finished_poses_are_printed_once_above_the_bar():
    out = Tty()
    line = ProgressLine(out)
    pose = {
        "pose": "02",
        "label": "Pallu over shoulder",
        "attempts": 0,
        "status": "pending",
        "reasons": [],
    }
    line.update(_state(0, 4, poses=[pose]))
    failed = pose | {"attempts": 1, "status": "running", "reasons": ["Border drifted.", "More."]}
    line.update(_state(0, 4, poses=[failed]))
    line.update(_state(0, 4, poses=[failed]))  # nothing new: nothing drawn
    line.update(_state(1, 4, poses=[failed | {"attempts": 2, "status": "passed", "reasons": []}]))
    line.close()
    text = out.getvalue()
    assert text.count("pose 02 attempt 1 failed: Border drifted. (+1 more)\n") == 1
    assert text.count("pose 02 Pallu over shoulder: passed after 2 attempts\n") == 1
    assert text.count(CLEAR_LINE) == 3 and text.endswith(
        "[#####---------------] 1/4 poses  stage: compose\n"
    )


def test_a_disabled_line_writes_nothing():
    out = Tty()
    line = ProgressLine(out, enabled=False)
    line.update(_state(1, 2))
    line.close()
    assert out.getvalue() == ""


def test_watcher_polls_until_stopped_and_reports_the_final_state():
    seen, ticks = [], iter(range(1000))
    two = threading.Event()

    def read():
        n = next(ticks)
        if n >= 2:
            two.set()
        return {"n": n}

    watcher = JobWatcher(read, seen.append, interval_s=0.01)
    watcher.start()
    assert two.wait(5)
    watcher.stop()
    assert not watcher.is_alive()
    assert [s["n"] for s in seen] == list(range(len(seen))) and len(seen) >= 3
