"""``make bench-load``: the status and gallery endpoints under 200 concurrent clients while
jobs run (issue 6, item 6). A benchmark, not a test: it reports, it asserts nothing about time.

Run ``python -m benchmarks.bench_load [--smoke] [--clients N] [--seconds S] [--out DIR]``.

A real stack (Prefect server, runner, API; ports 4296/8096 unless told) is started on a
temporary storage root. A feeder thread keeps a job running on each of a few sarees for the
whole measurement (a new standard job as soon as the previous one ends), so the API answers
while flows compete for the same cores. Then, in turn and for the same length of time, N
clients (asyncio tasks, one HTTP connection each, every one sending its next request as soon
as the last is answered) hit:

1. ``GET /api/v1/healthz``: the baseline, the cheapest route the same server has;
2. ``GET /api/v1/jobs/{id}``: the status of the feeder's current jobs (what a frontend polls);
3. ``GET /api/v1/sarees/{id}/gallery``: the galleries of the same sarees.

Per phase: requests, requests/s, latency p50 / p99 / max, and errors (anything but a 200,
timeouts and connection errors included); ratios of p50 and p99 to the baseline measured in
the same run. The clients run in this process, on the same cores as the server, which counts
against every phase alike. Results also go to ``DIR/results.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np

API = "/api/v1"
TERMINAL = ("success", "failed")


@dataclass
class Phase:
    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    error_kinds: dict[str, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def row(self, baseline: Phase | None) -> str:
        ratio = ""
        if baseline is not None and baseline is not self and baseline.p50_ms > 0:
            ratio = (
                f"p50 {self.p50_ms / baseline.p50_ms:.1f}x, p99 {self.p99_ms / baseline.p99_ms:.1f}x"
                " baseline"
            )
        return (
            f"{self.name:<28} {self.requests:>8} {self.rate:>9.0f} {self.p50_ms:>9.1f} "
            f"{self.p99_ms:>9.1f} {self.max_ms:>9.1f} {self.errors:>7}  {ratio}"
        )


class JobFeeder(threading.Thread):
    """Keeps one job running on each saree until stopped; counts what the jobs did."""

    def __init__(self, api_url: str, sarees: list[str]) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=f"{api_url}{API}", timeout=60)
        self.sarees = sarees
        self.current: dict[str, str] = {}
        self.finished: dict[str, str] = {}
        self.refused = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def job_urls(self) -> list[str]:
        with self.lock:
            return [f"{API}/jobs/{job_id}" for job_id in self.current.values()]

    def _submit(self, saree_id: str) -> None:
        response = self.client.post(f"/sarees/{saree_id}/jobs", json={"mode": "standard"})
        if response.status_code == 202:
            with self.lock:
                self.current[saree_id] = response.json()["job_id"]
        else:
            self.refused += 1

    def start_jobs(self) -> None:
        for saree_id in self.sarees:
            self._submit(saree_id)

    def run(self) -> None:
        while not self.stopping.is_set():
            for saree_id in self.sarees:
                job_id = self.current.get(saree_id)
                state = self.client.get(f"/jobs/{job_id}").json() if job_id else None
                if state is None or state["status"] in TERMINAL:
                    if state is not None:
                        self.finished[job_id] = state["status"]
                    if not self.stopping.is_set():
                        self._submit(saree_id)
            self.stopping.wait(0.5)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        self.client.close()


async def _client(base_url: str, urls, deadline_box: list, go: asyncio.Event, latencies, errors):
    """One client: its own connection, one request at a time until the phase ends."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        try:
            await client.get(f"{API}/healthz")  # connect before the clock starts
        except httpx.HTTPError:
            pass
        await go.wait()
        index = id(client) % 997
        while time.perf_counter() < deadline_box[0]:
            targets = urls()
            url = targets[index % len(targets)]
            index += 1
            started = time.perf_counter()
            try:
                response = await client.get(url)
                kind = None if response.status_code == 200 else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                kind = type(exc).__name__
            latencies.append(time.perf_counter() - started)
            if kind:
                errors[kind] = errors.get(kind, 0) + 1


async def run_phase(name: str, base_url: str, urls, clients: int, seconds: float) -> Phase:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    go = asyncio.Event()
    deadline_box = [float("inf")]
    tasks = [
        asyncio.create_task(_client(base_url, urls, deadline_box, go, latencies, errors))
        for _ in range(clients)
    ]
    await asyncio.sleep(min(2.0, 0.01 * clients))  # let every client connect
    started = time.perf_counter()
    deadline_box[0] = started + seconds
    go.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return Phase(
        name=name,
        requests=len(latencies),
        errors=sum(errors.values()),
        seconds=elapsed,
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        max_ms=float(ms.max()),
        error_kinds=errors,
    )


def _upload(client: httpx.Client, data: bytes) -> str:
    response = client.post("/sarees", files={"file": ("load.jpg", data, "image/jpeg")})
    response.raise_for_status()
    return response.json()["saree_id"]


def _wait(client: httpx.Client, job_id: str, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = client.get(f"/jobs/{job_id}").json()
        if state["status"] in TERMINAL:
            return state
        time.sleep(0.3)
    raise RuntimeError(f"job {job_id} did not finish")


def measure(api_url: str, *, clients: int, seconds: float, sarees: int) -> dict:
    """Upload ``sarees`` photos, finish one standard job on each (so galleries have images),
    then measure the three phases while the feeder keeps a job running on each saree."""
    from sareeflow.cli import sample_image_path

    photo = sample_image_path().read_bytes()
    with httpx.Client(base_url=f"{api_url}{API}", timeout=60) as client:
        ids = [_upload(client, photo) for _ in range(sarees)]
        first = [client.post(f"/sarees/{s}/jobs", json={"mode": "standard"}).json() for s in ids]
        for job in first:
            _wait(client, job["job_id"])
    feeder = JobFeeder(api_url, ids)
    feeder.start_jobs()
    feeder.start()
    galleries = [f"{API}/sarees/{saree_id}/gallery" for saree_id in ids]
    phases = [
        ("healthz (baseline)", lambda: [f"{API}/healthz"]),
        ("job status (running jobs)", lambda: feeder.job_urls() or [f"{API}/healthz"]),
        ("gallery", lambda: galleries),
    ]
    results = []
    try:
        for name, urls in phases:
            phase = asyncio.run(run_phase(name, api_url, urls, clients, seconds))
            results.append(phase)
            print(f"  {name}: {phase.requests} requests, {phase.errors} errors", flush=True)
    finally:
        feeder.stop()
    return {
        "clients": clients,
        "seconds_per_phase": seconds,
        "sarees": sarees,
        "jobs_finished_during_load": dict(
            sorted(
                {s: list(feeder.finished.values()).count(s) for s in TERMINAL}.items(),
            )
        ),
        "phases": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="20 clients, 2 s a phase (CI)")
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="length of each phase")
    parser.add_argument("--sarees", type=int, default=None, help="sarees with a running job")
    parser.add_argument("--out", default="bench-out/load")
    parser.add_argument("--prefect-port", type=int, default=4296)
    parser.add_argument("--api-port", type=int, default=8096)
    args = parser.parse_args(argv)
    clients = args.clients or (20 if args.smoke else 200)
    seconds = args.seconds or (2.0 if args.smoke else 15.0)
    sarees = args.sarees or (1 if args.smoke else 3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from sareeflow.stack import Stack

    print(
        f"sareeflow load benchmark: {clients} clients, {seconds:g} s per phase, "
        f"{sarees} saree(s) with a job running throughout, {os.cpu_count()} cores",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as home:
        env = {
            "SAREEFLOW_STORAGE_ROOT": root,
            "PREFECT_HOME": home,
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        if args.smoke:  # light jobs: the smoke run checks the benchmark works, not figures
            env |= {"SAREEFLOW_WORK_MAX_SIDE_PX": "640", "SAREEFLOW_CANVAS_HEIGHT_PX": "512"}
        started = time.perf_counter()
        with Stack(prefect_port=args.prefect_port, api_port=args.api_port, env=env) as stack:
            print(f"  stack up in {time.perf_counter() - started:.0f} s", flush=True)
            report = measure(stack.api_url, clients=clients, seconds=seconds, sarees=sarees)

    phases: list[Phase] = report["phases"]
    baseline = phases[0]
    print(
        f"\n{'phase':<28} {'requests':>8} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} "
        f"{'max ms':>9} {'errors':>7}  ratio"
    )
    for phase in phases:
        print(phase.row(baseline))
    print(f"\njobs finished while under load: {report['jobs_finished_during_load']}")
    report["phases"] = [asdict(phase) | {"requests_per_s": phase.rate} for phase in phases]
    report["smoke"] = args.smoke
    (out / "results.json").write_text(json.dumps(report, indent=2))
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
