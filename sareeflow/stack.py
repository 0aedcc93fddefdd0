"""``make run``: the whole local stack in the foreground; Ctrl-C stops all of it.

Three child processes, started in order and stopped in reverse:

1. ``prefect server start`` on 127.0.0.1:4200 (API + UI, SQLite under ``$PREFECT_HOME``);
2. the runner: ``python -m sareeflow.stack serve`` serves the deployments declared in
   ``prefect.yaml`` from one long-lived process, polling every second
   (``PREFECT_RUNNER_POLL_FREQUENCY=1``: a submitted job starts in ~1.5–2.3 s instead of the
   default 3–12 s, ``notes/prefect-3.9-measured.md``);
3. the API: uvicorn on 127.0.0.1:8000.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

from sareeflow.settings import get_settings

PROJECT_DIR = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def stack_env(prefect_port: int) -> dict[str, str]:
    """Environment shared by every child: one Prefect server, no ephemeral fallbacks."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_API_URL": f"http://{HOST}:{prefect_port}/api",
            "PREFECT_SERVER_API_HOST": HOST,
            "PREFECT_SERVER_API_PORT": str(prefect_port),
            "PREFECT_UI_API_URL": f"http://{HOST}:{prefect_port}/api",
            "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_RUNNER_POLL_FREQUENCY": env.get("PREFECT_RUNNER_POLL_FREQUENCY", "1"),
            "SAREEFLOW_PROJECT_DIR": str(PROJECT_DIR),
        }
    )
    env.setdefault("PREFECT_HOME", str(PROJECT_DIR / ".prefect"))
    env.setdefault("PYTHONPATH", str(PROJECT_DIR))
    return env


def wait_healthy(url: str, *, timeout_s: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} while starting")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not become healthy within {timeout_s:.0f} s")


def serve_deployments(limit: int | None = None) -> None:
    """Serve every deployment in prefect.yaml from this process (the runner child)."""
    from prefect import serve
    from prefect.flows import load_flow_from_entrypoint

    os.chdir(PROJECT_DIR)
    spec = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())
    deployments = []
    for entry in spec["deployments"]:
        flow = load_flow_from_entrypoint(entry["entrypoint"])
        deployments.append(
            flow.to_deployment(
                name=entry["name"],
                description=entry.get("description"),
                tags=entry.get("tags"),
                parameters=entry.get("parameters") or {},
            )
        )
    end_abandoned_runs()
    # pause_on_shutdown=False: a stopped runner must not leave the deployments paused.
    serve(*deployments, limit=limit, pause_on_shutdown=False, print_starting_message=True)


ABANDONED_MESSAGE = "The runner executing this run stopped before the run finished."


def end_abandoned_runs() -> list[str]:
    """End the jobs a dead runner had taken but never started; returns their flow-run ids.

    A runner takes a scheduled run by setting it PENDING, then starts a process for it.
    Killed in between, or together with that process before the flow wrote its first job
    event, it leaves the run PENDING (or RUNNING) in Prefect for good, and nothing ever
    hands it to another runner. Its job stays ``queued``: the job's last event came from the
    API, which is alive, so ``jobs.reconcile`` cannot tell it apart from a job about to
    start, and the saree refuses every new job (409) forever. Found by the crash test
    (tests/reliability/test_crash_safety.py).

    Called when a runner starts, before it serves: one runner serves these deployments
    (``make run``; several machines use a work pool, DESIGN §13), so a run of them still
    PENDING or RUNNING now was taken by a runner that is gone. Its flow process may live on
    (a runner killed alone leaves its children running): such a process holds the saree's
    ``run`` lock while it executes, and checks under that lock that its job is not terminal
    before it starts. So each job is ended under that lock, and left alone while it is busy.
    Best effort: a failure here is logged and never stops the runner from serving.
    """
    import logging

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    from sareeflow.errors import Conflict
    from sareeflow.jobs import CRASH_MESSAGE, job_state, mark_failed
    from sareeflow.settings import get_settings
    from sareeflow.store import Store

    logger = logging.getLogger("sareeflow.stack")
    store = Store(get_settings().storage_root)
    ended = []
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
                    )
                ),
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["sareeflow"])),
            )
            for run in runs:
                job_id, saree_id = run.parameters.get("job_id"), run.parameters.get("saree_id")
                try:
                    if job_id and saree_id:
                        with store.lock(saree_id, "run", blocking=False):
                            if not job_state(store, job_id).terminal:
                                mark_failed(store, job_id, "crashed", CRASH_MESSAGE)
                    client.set_flow_run_state(
                        run.id, Crashed(message=ABANDONED_MESSAGE), force=True
                    )
                    ended.append(str(run.id))
                except Conflict:
                    continue  # its flow process lives on and is executing the job
                except Exception as exc:  # noqa: BLE001 - one bad run must not stop the sweep
                    logger.warning("flow run %s: not ended: %r", run.id, exc)
    except Exception as exc:  # noqa: BLE001 - the runner must serve even if this fails
        logger.warning("abandoned runs not checked: %r", exc)
    if ended:
        logger.warning("ended %d run(s) abandoned by a previous runner: %s", len(ended), ended)
    return ended


class Stack:
    """Start/stop the three processes; used by ``make run`` and by end-to-end tests."""

    def __init__(
        self,
        *,
        prefect_port: int | None = None,
        api_port: int | None = None,
        env: dict | None = None,
    ):
        """Ports default to the settings' ``prefect_port`` / ``api_port`` (4200 / 8000)."""
        settings = get_settings()
        self.prefect_port = prefect_port or settings.prefect_port
        self.api_port = api_port or settings.api_port
        self.env = {**stack_env(self.prefect_port), **(env or {})}
        self.processes: list[subprocess.Popen] = []

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{HOST}:{self.prefect_port}/api"

    def __enter__(self) -> Stack:
        """Start quietly (tests and benchmarks); whatever did start is stopped if it fails."""
        try:
            self.start(quiet=True)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, *, quiet: bool = False) -> None:
        out = subprocess.DEVNULL if quiet else None
        py = sys.executable
        server = self._spawn([py, "-m", "prefect", "server", "start"], out)
        wait_healthy(f"{self.prefect_api_url}/health", timeout_s=90, process=server)
        runner_started = datetime.now(UTC)
        runner = self._spawn([py, "-m", "sareeflow.stack", "serve"], out)
        api = self._spawn(
            [
                py,
                "-m",
                "uvicorn",
                "api.main:create_app",
                "--factory",
                "--host",
                HOST,
                "--port",
                str(self.api_port),
                "--no-access-log" if quiet else "--access-log",
            ],
            out,
        )
        wait_healthy(f"{self.api_url}/api/v1/healthz", timeout_s=60, process=api)
        self._wait_deployments(runner, since=runner_started)

    def _wait_deployments(
        self, runner: subprocess.Popen, *, since: datetime, timeout_s: float = 60
    ) -> None:
        """Until this runner has (re-)registered every deployment of prefect.yaml.

        Deployments persist in Prefect's database across restarts, so their mere existence
        says nothing; their ``updated`` time must be after this runner started.
        """
        expected = len(yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())["deployments"])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if runner.poll() is not None:
                raise RuntimeError("the deployment runner exited while starting")
            try:
                response = httpx.post(
                    f"{self.prefect_api_url}/deployments/filter",
                    json={"deployments": {"name": {"any_": ["sareeflow"]}}},
                    timeout=2,
                )
                fresh = [
                    d
                    for d in response.json()
                    if datetime.fromisoformat(d["updated"].replace("Z", "+00:00")) >= since
                ]
                if len(fresh) >= expected:
                    return
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass
            time.sleep(0.25)
        raise RuntimeError("deployments were not served in time")

    def _spawn(self, cmd: list[str], out) -> subprocess.Popen:
        # Own session: a terminal's Ctrl-C reaches only the supervisor, which then stops the
        # children one by one in reverse order instead of all at once.
        process = subprocess.Popen(
            cmd,
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )
        self.processes.append(process)
        return process

    def stop(self, timeout_s: float = 15) -> None:
        """SIGINT in reverse start order (what Ctrl-C does), then SIGKILL stragglers."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def _default_sigint() -> None:
    # A shell's background job starts with SIGINT ignored; children must still obey it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the stack the same way as Ctrl-C


def main() -> int:
    if sys.argv[1:] == ["serve"]:
        try:
            serve_deployments()
        except KeyboardInterrupt:
            pass  # Ctrl-C / the supervisor's SIGINT: a normal stop
        return 0
    stack = Stack()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        stack.start()
        print(
            f"\nsareeflow is running:\n  API      {stack.api_url}/docs\n"
            f"  Prefect  http://{HOST}:{stack.prefect_port}\nPress Ctrl-C to stop.\n",
            flush=True,
        )
        while all(p.poll() is None for p in stack.processes):
            time.sleep(0.5)
        print("a component of the stack exited; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
