"""The canonical, write-once store (DESIGN §4). Everything is a file; nothing is overwritten.

Layout under the storage root::

    sarees/<saree_id>/saree.json                     who/what/when of the upload (write-once)
    sarees/<saree_id>/manifest.jsonl                 one ArtifactRecord per artifact (append-only)
    sarees/<saree_id>/original/upload.<ext>          the bytes as uploaded
    sarees/<saree_id>/original/normalized.png        sRGB pixels every stage starts from
    sarees/<saree_id>/generations/NNNN/...           one folder per job (see flows/)
    sarees/<saree_id>/jobs/<job_id>.json             which jobs touched this saree (write-once)
    jobs/<job_id>/events.jsonl                       the job's event log (append-only)
    jobs/<job_id>/log.jsonl                          the job's structured log (append-only)
    locks/<saree_id>.admit|.run                      flock files (never removed)

Write-once: bytes go to a temporary name in the same folder, are fsynced, then hard-linked to
the final name, which fails if the name exists (no rename-over). The manifest line is appended
after the link, so an artifact is listed only once its full content is in place; a crash in
between leaves an unlisted file that nothing serves.

Append-only logs are written with one ``write()`` per line on an ``O_APPEND`` descriptor. A line
torn by a crash or a full disk is never glued to the next one: an append that finds the file not
ending in a newline starts with one, so the torn fragment stays a line of its own that
:func:`read_lines` skips. Every job event carries ``by``, the identity of the process that wrote
it, so a reader can tell a job whose process died before it started (``jobs.reconcile``).

Paths: ids are checked before they reach a path, relative paths are refused if they could leave
the saree folder lexically, and :meth:`Store.resolve` also refuses any path that a symlink would
take out of the saree's own folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from sareeflow.errors import ArtifactExists, Conflict, NotFound, StorageError

_ID = re.compile(r"^[0-9a-f]{32}$")
_SAFE_REL = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._/-]+$")


def new_id() -> str:
    """A fresh opaque id (32 lowercase hex digits)."""
    return uuid.uuid4().hex


def check_id(value: str, *, what: str) -> str:
    """Reject anything that is not one of our ids before it gets near a path."""
    if not isinstance(value, str) or not _ID.match(value):
        raise NotFound(f"No {what} with that id.")
    return value


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactRecord(BaseModel):
    """One manifest line."""

    path: str
    """Relative to the saree folder, '/'-separated."""
    sha256: str
    size: int
    kind: str
    generation: int | None = None
    pose: str | None = None
    attempt: int | None = None
    created_at: str


class SareeRecord(BaseModel):
    saree_id: str
    created_at: str
    original_filename: str
    original_format: str
    original_size: tuple[int, int]
    original_path: str
    normalized_path: str
    notes: list[str] = []


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_once(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` atomically; raise :class:`ArtifactExists` if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise ArtifactExists(f"Artifact {path.name} already exists.", detail=str(path))
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            raise ArtifactExists(f"Artifact {path.name} already exists.", detail=str(path)) from exc
        _fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError("The server could not store a file.", detail=f"{path}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # the temporary name only; the artifact keeps its own link


def append_line(path: Path, record: dict) -> None:
    """Append one JSON line with a single write() on an O_APPEND descriptor, then fsync.

    If the file ends in a torn line (a crash or ENOSPC mid-write), the new line starts with a
    newline so it is not glued to the fragment and lost with it.
    """
    line = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            view = memoryview(line)
            while view:  # a short write (disk nearly full) continues; an error raises below
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StorageError(
            "The server could not record progress.", detail=f"{path}: {exc}"
        ) from exc


def read_lines(path: Path) -> list[dict]:
    """Every complete JSON line of an append-only file (a torn last line is ignored)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    records = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # torn write from a crash: never a complete record
    return records


class Store:
    """File-backed store rooted at ``root``. Thread-safe; processes coordinate with flock."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._append_lock = threading.Lock()

    # ------------------------------------------------------------------ paths
    def saree_dir(self, saree_id: str) -> Path:
        return self.root / "sarees" / check_id(saree_id, what="saree")

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / check_id(job_id, what="job")

    def resolve(self, saree_id: str, relpath: str) -> Path:
        """Absolute path of an artifact, refusing anything that could leave the saree folder.

        Lexically (no absolute paths, no ``.``/``..`` segments, a small alphabet) and through
        the file system: a symlink planted anywhere on the way, the saree folder included,
        that leads out of ``<root>/sarees/<saree_id>`` makes the path :class:`NotFound`.
        """
        if not _SAFE_REL.match(relpath or ""):
            raise NotFound("No such artifact.")
        base = self.saree_dir(saree_id)
        path = base / relpath
        real_base = Path(os.path.realpath(self.root)) / "sarees" / base.name
        if Path(os.path.realpath(base)) != real_base or not Path(
            os.path.realpath(path)
        ).is_relative_to(real_base):
            raise NotFound("No such artifact.")
        return path

    # ------------------------------------------------------------------ sarees
    def saree_exists(self, saree_id: str) -> bool:
        return (self.saree_dir(saree_id) / "saree.json").is_file()

    def require_saree(self, saree_id: str) -> SareeRecord:
        """The saree's record; NotFound if it is missing, reached through a symlink out of its
        folder, or names another saree (a folder linked or copied under a second id)."""
        try:
            path = self.resolve(saree_id, "saree.json")
            record = SareeRecord.model_validate_json(path.read_bytes())
        except (FileNotFoundError, NotFound) as exc:
            raise NotFound("No saree with that id.") from exc
        if record.saree_id != saree_id:
            raise NotFound("No saree with that id.")
        return record

    def list_sarees(self) -> list[str]:
        base = self.root / "sarees"
        if not base.is_dir():
            return []
        return sorted(
            p.name for p in base.iterdir() if _ID.match(p.name) and (p / "saree.json").is_file()
        )

    def create_saree(
        self,
        *,
        original: bytes,
        extension: str,
        normalized_png: bytes,
        filename: str,
        fmt: str,
        size: tuple[int, int],
        notes: list[str] | tuple[str, ...] = (),
    ) -> SareeRecord:
        """Store a new upload; ``saree.json`` is written last, so a saree exists only whole."""
        saree_id = new_id()
        original_rel = f"original/upload.{extension}"
        normalized_rel = "original/normalized.png"
        self.write_artifact(saree_id, original_rel, original, kind="original")
        self.write_artifact(saree_id, normalized_rel, normalized_png, kind="normalized")
        record = SareeRecord(
            saree_id=saree_id,
            created_at=now_iso(),
            original_filename=_safe_filename(filename),
            original_format=fmt,
            original_size=size,
            original_path=original_rel,
            normalized_path=normalized_rel,
            notes=list(notes),
        )
        write_once(
            self.saree_dir(saree_id) / "saree.json", record.model_dump_json(indent=2).encode()
        )
        return record

    # ------------------------------------------------------------------ artifacts
    def write_artifact(
        self,
        saree_id: str,
        relpath: str,
        data: bytes,
        *,
        kind: str,
        generation: int | None = None,
        pose: str | None = None,
        attempt: int | None = None,
    ) -> ArtifactRecord:
        """Write one artifact once and list it in the saree's manifest."""
        path = self.resolve(saree_id, relpath)
        write_once(path, data)
        record = ArtifactRecord(
            path=relpath,
            sha256=sha256_hex(data),
            size=len(data),
            kind=kind,
            generation=generation,
            pose=pose,
            attempt=attempt,
            created_at=now_iso(),
        )
        with self._append_lock:
            append_line(self.saree_dir(saree_id) / "manifest.jsonl", record.model_dump())
        return record

    def write_json(
        self, saree_id: str, relpath: str, model: BaseModel | dict, **meta
    ) -> ArtifactRecord:
        """Write a JSON artifact with stable key order, so equal content gives equal bytes."""
        payload = (
            model.model_dump(mode="json", by_alias=True) if isinstance(model, BaseModel) else model
        )
        data = (json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
        return self.write_artifact(saree_id, relpath, data, **meta)

    def read_bytes(self, saree_id: str, relpath: str) -> bytes:
        try:
            return self.resolve(saree_id, relpath).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("No such artifact.") from exc

    def read_json(self, saree_id: str, relpath: str) -> dict:
        return json.loads(self.read_bytes(saree_id, relpath))

    def artifacts(self, saree_id: str) -> list[ArtifactRecord]:
        """The manifest: every fully written artifact, in write order."""
        seen: dict[str, ArtifactRecord] = {}
        for line in read_lines(self.saree_dir(saree_id) / "manifest.jsonl"):
            record = ArtifactRecord.model_validate(line)
            seen.setdefault(record.path, record)
        return list(seen.values())

    def artifact(self, saree_id: str, relpath: str) -> ArtifactRecord:
        for record in self.artifacts(saree_id):
            if record.path == relpath:
                return record
        raise NotFound("No such artifact.")

    # ------------------------------------------------------------------ generations
    def generations(self, saree_id: str) -> list[int]:
        base = self.resolve(saree_id, "generations")
        if not base.is_dir():
            return []
        return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit())

    def new_generation(self, saree_id: str) -> int:
        """Claim generation N+1 by creating its folder (mkdir is atomic; a race retries)."""
        base = self.resolve(saree_id, "generations")
        base.mkdir(parents=True, exist_ok=True)
        while True:
            number = max(self.generations(saree_id), default=0) + 1
            try:
                (base / f"{number:04d}").mkdir()
                return number
            except FileExistsError:
                continue

    # ------------------------------------------------------------------ jobs
    def write_job_record(self, job_id: str, saree_id: str, payload: dict) -> None:
        data = (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode()
        write_once(self.job_dir(job_id) / "job.json", data)
        write_once(self.saree_dir(saree_id) / "jobs" / f"{job_id}.json", data)

    def job_record(self, job_id: str) -> dict:
        try:
            return json.loads((self.job_dir(job_id) / "job.json").read_bytes())
        except FileNotFoundError as exc:
            raise NotFound("No job with that id.") from exc

    def saree_job_ids(self, saree_id: str) -> list[str]:
        base = self.saree_dir(saree_id) / "jobs"
        if not base.is_dir():
            return []
        records = [json.loads(p.read_bytes()) for p in base.glob("*.json")]
        records.sort(key=lambda r: (r["created_at"], r["job_id"]))
        return [r["job_id"] for r in records]

    def append_event(self, job_id: str, event: dict) -> None:
        with self._append_lock:
            stamped = {"at": now_iso(), "by": process_identity(), **event}
            append_line(self.job_dir(job_id) / "events.jsonl", stamped)

    def events(self, job_id: str) -> list[dict]:
        return read_lines(self.job_dir(job_id) / "events.jsonl")

    def append_log(self, job_id: str, record: dict) -> None:
        with self._append_lock:
            append_line(self.job_dir(job_id) / "log.jsonl", record)

    # ------------------------------------------------------------------ locks
    @contextlib.contextmanager
    def lock(self, saree_id: str, purpose: str, *, blocking: bool) -> Iterator[None]:
        """An exclusive flock on ``locks/<saree>.<purpose>``; :class:`Conflict` if busy."""
        path = self.root / "locks" / f"{check_id(saree_id, what='saree')}.{purpose}"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise Conflict("This saree already has a job in progress.") from exc
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def is_locked(self, saree_id: str, purpose: str) -> bool:
        """True while some process holds ``lock(saree_id, purpose)``."""
        try:
            with self.lock(saree_id, purpose, blocking=False):
                return False
        except Conflict:
            return True


_PROC = Path("/proc")
_identity: dict[int, dict] = {}


def _boot_id() -> str:
    """This machine's boot, so a pid recorded before a reboot or on another host is not
    mistaken for a live process here."""
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return os.uname().nodename


def _start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` (clock ticks since boot; /proc/<pid>/stat field 22), or None if
    there is no such process or it is a zombie. Guards against pid reuse."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # killed, not yet reaped: dead for our purposes
        return None
    return int(fields[19])


def process_identity() -> dict:
    """Who is writing: pid, its start time and the boot, stamped on every job event."""
    pid = os.getpid()
    if pid not in _identity:  # per pid: a forked child is a different writer
        _identity[pid] = {"pid": pid, "start": _start_ticks(pid), "boot": _boot_id()}
    return _identity[pid]


def process_alive(identity: dict | None) -> bool:
    """False only when ``identity`` is a process of this boot that no longer exists; anything
    unknown (another machine, no /proc, no identity) counts as alive."""
    if not isinstance(identity, dict) or identity.get("boot") != _boot_id():
        return True
    pid, start = identity.get("pid"), identity.get("start")
    if not isinstance(pid, int) or start is None or not _PROC.is_dir():
        return True
    return _start_ticks(pid) == start


def _safe_filename(name: str) -> str:
    base = os.path.basename(name or "upload")
    cleaned = re.sub(r"[^A-Za-z0-9._ -]", "_", base)[:120]
    return cleaned or "upload"
