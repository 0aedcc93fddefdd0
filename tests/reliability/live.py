"""Driving the real stack for the crash and concurrency tests (issue 6, items 2 and 4).

Who executes flows: ``Stack.processes`` is ``[server, runner, api]`` as started; the runner
(``python -m sareeflow.stack serve``) runs every flow run in a child process of its own
(``python -m prefect.engine``). The runner leads its
own session (``Stack._spawn`` uses ``start_new_session``), so its process group is exactly
"the runner and the flows it runs"; children never leave it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx

from sareeflow.stack import Stack

RUNNER_MODULE = "sareeflow.stack"


def runner_process(stack: Stack) -> subprocess.Popen:
    """The live deployment runner of ``stack`` (the one whose command is ``... serve``)."""
    for process in stack.processes:
        if process.args[-3:] == ["-m", RUNNER_MODULE, "serve"] and process.poll() is None:
            return process
    raise AssertionError("the stack has no live runner")


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc; the flow-run processes of a runner)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return sorted(found)


def flow_processes(stack: Stack) -> list[int]:
    """The runner's children that execute flow runs: ``python -m prefect.engine`` for a
    deployment served by name (what ``serve`` does here), or a multiprocessing spawn child
    when Prefect runs an in-memory flow."""
    runner = runner_process(stack)
    pids = []
    for pid in children(runner.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"prefect.engine" in cmdline or (
            b"spawn_main" in cmdline and b"resource_tracker" not in cmdline
        ):
            pids.append(pid)
    return pids


def kill_flows(stack: Stack) -> list[int]:
    """SIGKILL every flow-run process; the runner survives and sees its children die."""
    pids = flow_processes(stack)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def kill_runner_group(stack: Stack) -> int:
    """SIGKILL the runner and every flow it runs at once (its whole process group), the way
    a machine loses power or the OOM killer takes a container; returns the dead runner's pid."""
    runner = runner_process(stack)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait(timeout=30)
    stack.processes.remove(runner)
    return runner.pid


def start_runner(stack: Stack) -> subprocess.Popen:
    """A fresh runner for ``stack``, returned once it serves every deployment again.

    Uses the Stack's own spawn and readiness wait (the same code ``make run`` uses), so the
    restarted runner is started exactly like the first one.
    """
    since = datetime.now(UTC)
    runner = stack._spawn([sys.executable, "-m", RUNNER_MODULE, "serve"], subprocess.DEVNULL)
    stack._wait_deployments(runner, since=since)
    return runner


def upload(client: httpx.Client, data: bytes, name: str = "saree.jpg") -> str:
    response = client.post("/sarees", files={"file": (name, data, "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()["saree_id"]


def wait_terminal(client: httpx.Client, job_ids: list[str], timeout_s: float = 150) -> dict:
    """job_id → its final state as the API shows it (polling is what reconciles dead runs)."""
    deadline = time.monotonic() + timeout_s
    done: dict[str, dict] = {}
    pending = list(job_ids)
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            state = client.get(f"/jobs/{job_id}").json()
            if state["status"] in ("success", "failed"):
                done[job_id] = state
                pending.remove(job_id)
        if pending:
            time.sleep(0.3)
    if pending:
        stuck = {j: client.get(f"/jobs/{j}").json() for j in pending}
        summary = {
            j: (s["status"], s["current_stage"], s.get("flow_run_id")) for j, s in stuck.items()
        }
        raise AssertionError(f"{len(pending)} job(s) never ended: {summary}")
    return done


def synthetic_photos(count: int, size: tuple[int, int] = (800, 600)) -> list[bytes]:
    """``count`` different saree product photos (JPEG), deterministic for their index."""
    from sareeflow.synth.cloth import make_cloth
    from sareeflow.synth.photo import make_photo

    photos = []
    for index in range(count):
        seed = 6000 + index
        cloth, truth = make_cloth(seed, size=(1000, 380))
        photo, _ = make_photo(cloth, truth, seed, size=size, difficulty="easy", jpeg_quality=90)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
        assert ok
        photos.append(buf.tobytes())
    return photos
