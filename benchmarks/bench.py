"""``make bench``: every figure of DESIGN §12 beside its budget.

Run ``python -m benchmarks.bench [--smoke] [--runs N] [--out DIR]``. ``--smoke`` uses a small
image and one run (CI runs it so a broken benchmark is caught); the real run uses a 12 MP JPEG.
Absolute times are min / median / max over the runs; ratios are against baselines measured in
the same run on the same inputs (these machines are noisy: trust the ratios more).

Results go to ``DIR/results.json``, a pyinstrument profile of one standard job's pure stages to
``DIR/profile.html`` (+ ``profile.txt``), and a py-spy profile of one whole standard job (Prefect,
storage and every thread of the flow run's process included) as collapsed stacks in
``DIR/job-profile.txt`` (flamegraph tools read them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from sareeflow.cli import quiet_prefect_defaults
from sareeflow.settings import Settings

GIB = 1024**3


class Figure:
    """One measured figure: samples in seconds (or bytes), its budget and how to compare."""

    def __init__(self, name: str, budget: float | None, unit: str = "s", note: str = "") -> None:
        self.name, self.budget, self.unit, self.note = name, budget, unit, note
        self.samples: list[float] = []
        self.ratio: str = ""

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def met(self) -> str:
        if self.budget is None or not self.samples:
            return ""
        return "met" if self.median <= self.budget else "MISSED"

    def row(self) -> str:
        def fmt(value: float | None) -> str:
            if value is None or value != value:
                return "-"
            if self.unit == "s":
                return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
            if self.unit == "GiB":
                return f"{value / GIB:.2f} GiB"
            return f"{value:.2f}"

        low = fmt(min(self.samples)) if self.samples else "-"
        high = fmt(max(self.samples)) if self.samples else "-"
        budget = f"< {fmt(self.budget)}" if self.budget is not None else ""
        return (
            f"{self.name:<46} {fmt(self.median):>10} {low:>10} {high:>10}  "
            f"{budget:>11} {self.met:>6}  {self.ratio}"
        )

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "unit": self.unit,
            "budget": self.budget,
            "samples": self.samples,
            "median": self.median,
            "met": self.met,
            "ratio": self.ratio,
            "note": self.note,
        }


def timed(fn: Callable, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


# ----------------------------------------------------------------------------- inputs
def make_upload(smoke: bool) -> bytes:
    """A JPEG product photo of a generated saree: 12 MP for the real run, ~0.5 MP for smoke."""
    from sareeflow.synth.photo import make_large_photo

    photo, _ = make_large_photo(7, megapixels=0.5 if smoke else 12.0)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    assert ok
    return buf.tobytes()


# ----------------------------------------------------------------------------- pure stages
def bench_stages(upload: bytes, settings: Settings, runs: int, figures: dict[str, Figure]) -> dict:
    """The pure stage functions of a standard job, called directly, per stage."""
    from adapters.local_compose import LocalComposeAdapter
    from adapters.local_flatten import LocalFlattenAdapter
    from sareeflow.imaging import encode_png, normalize_upload
    from sareeflow.placement import build_placement
    from sareeflow.poses import load_catalogue, poses_for_mode
    from tasks.extract import extract_parts
    from tasks.isolate import isolate
    from tasks.validate import validate_output

    catalogue = load_catalogue()
    poses = poses_for_mode("standard")
    names = ["decode (cv2.imdecode, baseline)", "normalize upload", "isolate", "flatten", "extract",
             "placement (4 poses)", "compose (4 poses)", "validate (4 poses)", "pure stages total"]  # fmt: skip
    for name in names:
        figures.setdefault(
            f"stage: {name}", Figure(f"stage: {name}", 3.0 if name == "pure stages total" else None)
        )
    encode = {k: Figure(f"encode PNG: {k}", None) for k in ("normalized", "s_clean", "s_flat", "outputs (4)", "placement records (4)")}  # fmt: skip
    kept: dict = {}
    for _ in range(runs):
        t_decode, _ = timed(cv2.imdecode, np.frombuffer(upload, np.uint8), cv2.IMREAD_COLOR)
        t_norm, normalized = timed(normalize_upload, upload, settings=settings)
        t_iso, (s_clean, _mask, _info) = timed(isolate, normalized.image, settings=settings)
        t_flat, flat = timed(LocalFlattenAdapter(settings=settings).run, s_clean, None, 1, [], [])
        s_flat = flat.image
        t_ext, parts = timed(extract_parts, s_flat)
        t_place = t_comp = t_val = 0.0
        outputs, placements = [], []
        for pose in poses:
            dt, placement = timed(
                build_placement,
                catalogue.poses[pose],
                parts,
                canvas_height=settings.canvas_height_px,
            )
            t_place += dt
            dt, result = timed(LocalComposeAdapter().run, s_flat, placement, 1, [], [])
            t_comp += dt
            dt, _report = timed(
                validate_output, result.image, placement, s_flat, thresholds=settings.thresholds
            )
            t_val += dt
            outputs.append(result.image)
            placements.append(placement)
        for name, value in zip(names, [t_decode, t_norm, t_iso, t_flat, t_ext, t_place, t_comp, t_val,
                                        t_norm + t_iso + t_flat + t_ext + t_place + t_comp + t_val], strict=True):  # fmt: skip
            figures[f"stage: {name}"].add(value)
        level = settings.png_compression
        encode["normalized"].add(timed(encode_png, normalized.image, compression=level)[0])
        encode["s_clean"].add(timed(encode_png, s_clean, compression=level)[0])
        encode["s_flat"].add(timed(encode_png, s_flat, compression=level)[0])
        encode["outputs (4)"].add(sum(timed(encode_png, o, compression=level)[0] for o in outputs))
        encode["placement records (4)"].add(sum(timed(p.record)[0] for p in placements))
        kept = {
            "s_flat": s_flat,
            "outputs": outputs,
            "placements": placements,
            "normalized": normalized.image,
        }
    figures.update({f.name: f for f in encode.values()})
    decode = figures["stage: decode (cv2.imdecode, baseline)"].median
    total = figures["stage: pure stages total"]
    total.ratio = f"{total.median / decode:.0f}x one JPEG decode"
    return kept


def skimage_baseline(output: np.ndarray, placement, s_flat: np.ndarray) -> None:
    """The baseline for validation time: scikit-image's SSIM and CIEDE2000 on every region
    of a pose (expected pixels rebuilt from the map, as validation does)."""
    from skimage.color import deltaE_ciede2000, rgb2lab
    from skimage.metrics import structural_similarity

    from sareeflow.placement import expected_region

    for region in placement.regions:
        want, mask = expected_region(s_flat, placement, region.name)
        x, y, w, h = region.bbox
        got = output[y : y + h, x : x + w]
        structural_similarity(got, want, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False)  # fmt: skip
        deltaE_ciede2000(rgb2lab(got[mask]), rgb2lab(want[mask]))


def bench_validation(kept: dict, settings: Settings, runs: int, figures: dict[str, Figure]) -> None:
    """Validation of one pose against scikit-image's SSIM + CIEDE2000 on the same regions."""
    from tasks.validate import validate_output

    ours = figures.setdefault("validation per pose", Figure("validation per pose", 0.150))
    base = figures.setdefault(
        "validation baseline (skimage SSIM + dE2000)",
        Figure("validation baseline (skimage SSIM + dE2000)", None),
    )
    for _ in range(runs):
        for output, placement in zip(kept["outputs"], kept["placements"], strict=True):
            ours.add(
                timed(
                    validate_output,
                    output,
                    placement,
                    kept["s_flat"],
                    thresholds=settings.thresholds,
                )[0]
            )
            base.add(timed(skimage_baseline, output, placement, kept["s_flat"])[0])
    ours.ratio = f"{base.median / ours.median:.1f}x faster than skimage"


# ----------------------------------------------------------------------------- Prefect overhead
def bench_task_overhead(runs: int, figures: dict[str, Figure]) -> None:
    """Per-task-run cost of Prefect itself: a flow of no-op tasks vs calling them directly."""
    from prefect import flow, task

    @task
    def noop(i: int) -> int:
        return i

    @flow
    def many(n: int) -> int:
        return sum(noop(i) for i in range(n))

    many(2)  # warm-up: starts the ephemeral server once
    n = 100  # a flow's own start and end vary by tens of ms: the difference needs many tasks
    fig = figures.setdefault(
        "Prefect task-run overhead", Figure("Prefect task-run overhead", 0.025)
    )
    for _ in range(runs):
        empty, _ = timed(many, 0)
        full, _ = timed(many, n)
        fig.add(max(full - empty, 0.0) / n)


def bench_flow_in_process(upload: bytes, runs: int, figures: dict[str, Figure]) -> None:
    """A whole standard job in this process (storage, events, task runs included) vs its pure stages."""
    from sareeflow.cli import run_mode
    from sareeflow.settings import get_settings
    from sareeflow.uploads import store_upload

    fig = figures.setdefault(
        "standard job in-process (no API)", Figure("standard job in-process (no API)", None)
    )
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as root:
            os.environ["SAREEFLOW_STORAGE_ROOT"] = root
            get_settings.cache_clear()
            saree = store_upload(upload, filename="bench.jpg", settings=get_settings())
            elapsed, state = timed(run_mode, saree.saree_id, "standard")
            assert state["status"] == "success", state
            fig.add(elapsed)
    pure = figures["stage: pure stages total"].median
    # isolate, flatten, extract + per pose its pose task and the nested compose and validate
    task_runs = 3 + 4 * 3
    per_task = (fig.median - pure) / task_runs
    other = figures.setdefault(
        "everything but pure stages, per task run",
        Figure("everything but pure stages, per task run", 0.025),
    )
    other.add(per_task)
    other.note = f"(in-process job - pure stages) / {task_runs} task runs; includes PNG encodes and file writes"


# ----------------------------------------------------------------------------- the real stack
def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            frontier.append(child)
    return found


def _peak_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakMemory:
    """Samples the peak RSS (VmHWM) of every process under the runner while a job runs."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid, self.peak, self._stop = root_pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in _descendants(self.root_pid):
                self.peak = max(self.peak, _peak_rss(pid))
            time.sleep(0.02)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def bench_stack(upload: bytes, runs: int, figures: dict[str, Figure], out: Path) -> list[str]:
    """Standard and extend jobs through the real stack: API request to success; then one more
    standard job under py-spy (returns its summary)."""
    import httpx

    from sareeflow.stack import Stack

    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as home:
        env = {"SAREEFLOW_STORAGE_ROOT": root, "PREFECT_HOME": home}
        with (
            Stack(prefect_port=4299, api_port=8099, env=env) as stack,
            httpx.Client(base_url=f"{stack.api_url}/api/v1", timeout=60) as client,
        ):
            runner_pid = stack.processes[1].pid
            _stack_runs(client, upload, Path(root), runner_pid, runs, figures)
            return profile_stack_job(client, upload, runner_pid, out)


def _stack_runs(
    client, upload: bytes, root: Path, runner_pid: int, runs: int, figures: dict[str, Figure]
) -> None:
    from sareeflow.store import Store

    std = figures.setdefault(
        "standard job via API (4 poses)", Figure("standard job via API (4 poses)", 6.0)
    )
    ext = figures.setdefault(
        "extend job via API (8 poses)", Figure("extend job via API (8 poses)", 8.0)
    )
    start = figures.setdefault(
        "start latency (accepted -> flow running)",
        Figure("start latency (accepted -> flow running)", 2.0),
    )
    memory = figures.setdefault(
        "peak memory of a job", Figure("peak memory of a job", 1.5 * GIB, unit="GiB")
    )
    store = Store(root)
    for _ in range(runs + 1):  # the first run warms the runner and the server's caches
        response = client.post("/sarees", files={"file": ("bench.jpg", upload, "image/jpeg")})
        saree_id = response.json()["saree_id"]
        samples = []
        for mode in ("standard", "extend"):
            with PeakMemory(runner_pid) as peak:
                t0 = time.perf_counter()
                job = client.post(f"/sarees/{saree_id}/jobs", json={"mode": mode}).json()
                while job["status"] not in ("success", "failed"):
                    time.sleep(0.05)
                    job = client.get(f"/jobs/{job['job_id']}").json()
                elapsed = time.perf_counter() - t0
            assert job["status"] == "success", job
            events = store.events(job["job_id"])
            created = _at(events, "job_created")
            running = _at(events, "job_started")
            samples.append((mode, elapsed, running - created, peak.peak))
        if _ == 0:
            continue
        for mode, elapsed, latency, peak_bytes in samples:
            (std if mode == "standard" else ext).add(elapsed)
            start.add(latency)
            memory.add(peak_bytes)


def _at(events: list[dict], kind: str) -> float:
    from datetime import datetime

    stamp = next(e["at"] for e in events if e["type"] == kind)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# ----------------------------------------------------------------------------- profile
def profile_stages(upload: bytes, settings: Settings, out: Path) -> list[str]:
    """pyinstrument profile of one standard job's pure stages; returns the top lines."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return ["pyinstrument not installed: no profile"]
    profiler = Profiler(interval=0.002)
    profiler.start()
    bench_stages(upload, settings, 1, {})
    profiler.stop()
    (out / "profile.html").write_text(profiler.output_html())
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    (out / "profile.txt").write_text(text)
    return text.splitlines()[:40]


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def profile_stack_job(
    client, upload: bytes, runner_pid: int, out: Path, top: int = 15
) -> list[str]:
    """py-spy profile of one standard job as the stack runs it: attached to the deployment
    runner with ``--subprocesses``, so the flow run's own process (started per run by
    Prefect's runner) is sampled from its first import to its exit, every thread included
    (pyinstrument only sees the thread it started on). Writes ``job-profile.txt`` (collapsed
    stacks) and returns the share of samples by pipeline part and the top functions."""
    spy = py_spy()
    if spy is None:
        return ["py-spy not installed: no whole-job profile"]
    raw = out / "job-profile.txt"
    recorder = subprocess.Popen(
        [spy, "record", "--pid", str(runner_pid), "--subprocesses", "--rate", "100",
         "--format", "raw", "-o", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # py-spy attaches before the job is submitted
        saree_id = client.post(
            "/sarees", files={"file": ("bench.jpg", upload, "image/jpeg")}
        ).json()["saree_id"]
        job = client.post(f"/sarees/{saree_id}/jobs", json={"mode": "standard"}).json()
        while job["status"] not in ("success", "failed"):
            time.sleep(0.05)
            job = client.get(f"/jobs/{job['job_id']}").json()
        time.sleep(1.0)  # the flow process's exit
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        _, err = recorder.communicate(timeout=60)
    if not raw.is_file():
        return [f"py-spy wrote no profile: {err.decode(errors='replace')[-300:]}"]
    return summarise_collapsed(raw.read_text(), top)


PROFILE_BUCKETS = (
    ("imports (process start)", ("_find_and_load",)),
    ("isolate", ("isolate_task (",)),
    ("flatten", ("flatten_task (",)),
    ("extract", ("extract_task (",)),
    ("compose (adapter + PNG + store)", ("compose_attempt (",)),
    ("validate", ("validate_attempt (",)),
    ("placement maps", ("build_placement (",)),
    ("retry log, contact sheet, metrics", ("_finish_generation (",)),
    ("Prefect ephemeral server start", ("SubprocessASGIServer",)),
    ("Prefect engine, client and events", ("prefect/",)),
)
"""Where a sample goes: the first bucket one of whose markers is in its stack."""


def summarise_collapsed(collapsed: str, top: int) -> list[str]:
    """Shares of py-spy's collapsed stacks (``frame;frame;... count`` lines) by pipeline part,
    and the functions most often at the top of the stack outside imports."""
    buckets: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        bucket = next(
            (name for name, marks in PROFILE_BUCKETS if any(m in stack for m in marks)), "other"
        )
        buckets[bucket] = buckets.get(bucket, 0) + n
        if bucket != PROFILE_BUCKETS[0][0]:
            leaf = stack.rsplit(";", 1)[-1].rsplit(":", 1)[0] + ")"
            own[leaf] = own.get(leaf, 0) + n
    if not total:
        return ["the profile has no samples"]

    def rows(counts: dict[str, int], limit: int) -> list[str]:
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:limit]
        return [f"  {100 * n / total:5.1f} %  {name}" for name, n in ranked]

    return [f"{total} samples (100 per s, busy threads only), by part of the job:",
            *rows(buckets, len(buckets)),
            "functions most often at the top of the stack (imports left out):",
            *rows(own, top)]  # fmt: skip


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small image, one run (CI)")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--out", default="bench-out")
    parser.add_argument("--skip-stack", action="store_true", help="no real-stack figures")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.smoke else 5)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # The CLI's Prefect defaults: WARNING logs and a 120 s wait for Prefect's temporary server
    # (its default 20 s timed out in CI while the suite's own test server shared the cores).
    quiet_prefect_defaults()
    settings = Settings(storage_root=Path(tempfile.gettempdir()))

    print(
        f"sareeflow benchmark: {'smoke' if args.smoke else '12 MP'} input, {runs} run(s), {os.cpu_count()} cores",
        flush=True,
    )
    t, upload = timed(make_upload, args.smoke)
    print(f"  generated upload: {len(upload) / 1e6:.1f} MB in {t:.1f} s", flush=True)
    figures: dict[str, Figure] = {}
    kept = bench_stages(upload, settings, runs, figures)
    bench_validation(kept, settings, runs, figures)
    bench_task_overhead(runs, figures)
    bench_flow_in_process(upload, runs, figures)
    job_top = ["--skip-stack: no whole-job profile"]
    if not args.skip_stack:
        job_top = bench_stack(upload, runs, figures, out)
    top = profile_stages(upload, settings, out)

    print(f"\n{'figure':<46} {'median':>10} {'min':>10} {'max':>10}  {'budget':>11} {'':>6}  ratio")
    for figure in figures.values():
        print(figure.row())
    print(f"\nprofile of one standard job's stages: {out / 'profile.html'}")
    print("\n".join(top[:25]))
    print(f"\nprofile of one whole standard job on the stack (py-spy): {out / 'job-profile.txt'}")
    print("\n".join(job_top))
    (out / "results.json").write_text(
        json.dumps(
            {"smoke": args.smoke, "runs": runs, "figures": [f.as_dict() for f in figures.values()]},
            indent=2,
        )
    )
    missed = [f.name for f in figures.values() if f.met == "MISSED"]
    if missed:
        print(f"\nbudgets missed: {', '.join(missed)} (see docs/performance.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
