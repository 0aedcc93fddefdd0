"""What must hold after any attack or failure, as functions returning the list of violations
(empty when all is well), so one test can check hundreds of cases and report them together.

* responses: problem+json of our shape, a client-error status, no trace or path in the body;
* the store: every manifest entry's file is whole (size and sha256), no artifact ever changes,
  append-only logs only grow;
* jobs: the state the API shows equals the fold of the job's events read from the files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from sareeflow.jobs import JobState, job_state
from sareeflow.store import Store

API = "/api/v1"
PROBLEM_KEYS = {"type", "title", "status", "detail", "category"}
LEAK_NEEDLES = (
    "Traceback",
    'File "',
    "/tmp/",
    "/work/",
    "/home/",
    "/usr/",
    "/root",
    "site-packages",
    ".py",
    "storage_root",
    "Errno",
    "PIL",
    "pydantic",
    "<script",
    "<?php",
    "<svg",
    "etc/passwd",
    "boot.ini",
    "X-Injected",
)
"""Never in a response body: traces, server paths, library internals, the client's own input."""
METADATA_FILES = ("saree.json", "manifest.jsonl")
"""Files of a saree folder that are bookkeeping, not artifacts."""


def problem_violations(
    response, statuses: tuple[int, ...], category: str | None = None, extra: tuple[str, ...] = ()
) -> list[str]:
    """Violations of "a categorised client error, problem+json, leaking nothing"."""
    out = []
    status = response.status_code
    if status not in statuses:
        out.append(f"status {status} not in {statuses}")
    if status >= 500:
        out.append(f"server error {status}")
    if not 400 <= status < 500:
        return out
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        out.append(f"content-type {response.headers.get('content-type')!r}")
        return out
    try:
        body = response.json()
    except ValueError:
        return [*out, "body is not JSON"]
    if set(body) != PROBLEM_KEYS:
        out.append(f"problem keys {sorted(body)}")
    if body.get("status") != status:
        out.append("problem status differs from HTTP status")
    if (
        not body.get("category")
        or body.get("type") != f"urn:sareeflow:problem:{body.get('category')}"
    ):
        out.append(f"uncategorised problem {body}")
    if category is not None and body.get("category") != category:
        out.append(f"category {body.get('category')!r} != {category!r}")
    out += leak_violations(response.text, extra)
    return out


def leak_violations(text: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [f"leaked {needle!r}" for needle in (*LEAK_NEEDLES, *extra) if needle in text]


# --------------------------------------------------------------------------------- the store
def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_violations(store: Store, saree_id: str) -> list[str]:
    """Every listed artifact exists with exactly its listed size and sha256."""
    out = []
    for record in store.artifacts(saree_id):
        path = store.saree_dir(saree_id) / record.path
        if not path.is_file():
            out.append(f"{saree_id}/{record.path}: listed but missing")
        elif path.stat().st_size != record.size or sha256_file(path) != record.sha256:
            out.append(f"{saree_id}/{record.path}: content differs from its manifest entry")
    return out


def unlisted_files(store: Store, saree_id: str) -> list[str]:
    """Files in a saree folder that no manifest line lists (crash leftovers, temp files)."""
    base = store.saree_dir(saree_id)
    listed = {record.path for record in store.artifacts(saree_id)}
    found = []
    for path in base.rglob("*"):
        rel = path.relative_to(base).as_posix()
        if not path.is_file() or rel in METADATA_FILES or rel.startswith("jobs/"):
            continue
        if rel not in listed:
            found.append(rel)
    return sorted(found)


@dataclass
class Snapshot:
    """Artifacts by (sha256, size, mtime) and append-only logs by content, at one moment."""

    files: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    logs: dict[str, bytes] = field(default_factory=dict)


def snapshot(root: Path, saree_ids: list[str] | None = None) -> Snapshot:
    """A snapshot of whole storage root, or only of some sarees and their jobs' logs."""
    snap = Snapshot()
    store = Store(root)
    folders = (
        [root]
        if saree_ids is None
        else [store.saree_dir(s) for s in saree_ids]
        + [store.job_dir(j) for s in saree_ids for j in store.saree_job_ids(s)]
    )
    for folder in folders:
        for path in folder.rglob("*"):
            if not path.is_file() or "locks" in path.relative_to(root).parts:
                continue
            rel = path.relative_to(root).as_posix()
            if path.name.endswith(".jsonl"):
                snap.logs[rel] = path.read_bytes()
            elif not path.name.startswith(".tmp-"):
                stat = path.stat()
                snap.files[rel] = (sha256_file(path), stat.st_size, stat.st_mtime_ns)
    return snap


def change_violations(before: Snapshot, after: Snapshot) -> list[str]:
    """Nothing that existed may change or vanish; logs may only grow at their end."""
    out = []
    for rel, facts in before.files.items():
        if rel not in after.files:
            out.append(f"{rel}: vanished")
        elif after.files[rel] != facts:
            out.append(f"{rel}: changed {facts} -> {after.files[rel]}")
    for rel, content in before.logs.items():
        if not after.logs.get(rel, b"").startswith(content):
            out.append(f"{rel}: append-only log was rewritten")
    return out


# --------------------------------------------------------------------------------- jobs
def rebuilt(root: Path, job_id: str) -> JobState:
    """The job's state from its files alone (the fold of its event log)."""
    return job_state(Store(root), job_id)


def api_vs_files_violations(api_job: dict, state: JobState) -> list[str]:
    """Fields the API shows that must equal the state rebuilt from the files."""
    out = []
    for key in ("job_id", "saree_id", "mode", "status", "generation", "retries", "current_stage"):
        if api_job[key] != getattr(state, key):
            out.append(f"{key}: api {api_job[key]!r} != files {getattr(state, key)!r}")
    if api_job["progress"] != state.progress.model_dump():
        out.append(f"progress: api {api_job['progress']} != files {state.progress}")
    api_error = api_job["error"]
    files_error = state.error.model_dump() if state.error else None
    if api_error != files_error:
        out.append(f"error: api {api_error} != files {files_error}")
    api_poses = [
        (p["pose"], p["status"], p["attempts"], bool(p["image_url"])) for p in api_job["poses"]
    ]
    file_poses = [(p.pose, p.status, p.attempts, bool(p.output)) for p in state.poses]
    if api_poses != file_poses:
        out.append(f"poses: api {api_poses} != files {file_poses}")
    for pose, entry in zip(state.poses, api_job["poses"], strict=False):
        if pose.output and not entry["image_url"].endswith("/artifacts/" + pose.output):
            out.append(f"pose {pose.pose}: image_url {entry['image_url']} is not {pose.output}")
    return out


def read_json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def served_violations(client, store: Store, saree_id: str) -> list[str]:
    """Everything listed downloads whole; nothing unlisted downloads at all."""
    out = []
    manifest = {record.path: record for record in store.artifacts(saree_id)}
    listing = client.get(f"/sarees/{saree_id}/artifacts").json()["artifacts"]
    for item in listing:
        rel = unquote(item["url"].split("/artifacts/", 1)[1])
        record = manifest.get(rel)
        body = client.get(item["url"].removeprefix(API)).content
        if record is None:
            out.append(f"{saree_id}/{rel}: listed by the API but not in the manifest")
        elif hashlib.sha256(body).hexdigest() != record.sha256 or item["sha256"] != record.sha256:
            out.append(f"{saree_id}/{rel}: served bytes differ from the manifest")
    for rel in unlisted_files(store, saree_id):
        status = client.get(f"/sarees/{saree_id}/artifacts/{rel}").status_code
        if status != 404:
            out.append(f"{saree_id}/{rel}: unlisted leftover served with {status}")
    return out


def overlap_violations(store: Store, saree_id: str) -> list[str]:
    """Jobs of one saree ran one after the other, each in a generation of its own."""
    out, spans, generations = [], [], []
    for job_id in store.saree_job_ids(saree_id):
        events = store.events(job_id)
        started = [e["at"] for e in events if e["type"] == "job_started"]
        finished = [e["at"] for e in events if e["type"] == "job_finished"]
        generations += [e["generation"] for e in events if e["type"] == "job_started"]
        if started:
            spans.append((started[0], finished[0] if finished else "~", job_id))
    spans.sort()
    for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
        if start < end:
            out.append(f"{saree_id}: job {second} started before job {first} ended")
    if len(generations) != len(set(generations)):
        out.append(f"{saree_id}: a generation was used by two jobs: {generations}")
    return out
