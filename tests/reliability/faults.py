"""Deterministic storage faults for the store (issue 6, item 5).

:class:`FaultyDisk` stands in for the ``os`` module inside ``sareeflow.store`` (the only module
that writes the storage root), so the store's real code runs, down to its own ``os.open`` /
``os.write`` / ``os.link`` calls, and exactly one chosen low-level call fails the way a full
disk or a refused permission makes it fail. Running as root, ``chmod`` would not stop a write,
and a real full disk is not deterministic; this is both.

Artifacts are counted as the store creates their temporary files (``.tmp-<name>-<hex>``), in
the order it writes them, across threads (only those named ``name`` when it is given, so a
case can aim at "the first pose output" whatever comes before it); the ``at``-th fails at
``step``:

* ``open``: creating the temporary file fails (``PermissionError`` for EACCES);
* ``write``: half of the bytes are written, then the write fails (a disk filling up);
* ``link``: the bytes are all written and synced, and publishing the name fails;
* ``append``: the artifact is published, and the manifest line that lists it fails half-way
  (the ``at``-th manifest append since the disk was installed; ``name`` does not apply).

With ``sticky`` the disk stays full after the first failure: every later write and append fails
too, job events and logs included.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import sareeflow.store


def os_error(code: int, path: str = "") -> OSError:
    """The OSError subclass the kernel's errno gives (EACCES → PermissionError)."""
    return OSError(code, os.strerror(code), path or None)


class FaultyDisk:
    """``os`` for ``sareeflow.store`` that fails one chosen artifact write (see module doc)."""

    def __init__(
        self,
        *,
        at: int = 1,
        step: str,
        code: int = errno.ENOSPC,
        sticky: bool = False,
        name: str | None = None,
    ):
        assert step in ("open", "write", "link", "append"), step
        self.at, self.step, self.code, self.sticky = at, step, code, sticky
        self.name = name
        self.artifacts = 0
        self.appends = 0
        self.failed: list[str] = []
        self._paths: dict[int, str] = {}
        self._doomed: set[int] = set()
        self._target: str | None = None  # temporary name of the at-th artifact
        self._lock = threading.Lock()

    # Everything the store uses that is not overridden is the real thing.
    def __getattr__(self, name: str):
        return getattr(os, name)

    @property
    def full(self) -> bool:
        return self.sticky and bool(self.failed)

    def _fail(self, path: str) -> OSError:
        self.failed.append(path)
        return os_error(self.code, path)

    def open(self, path, flags, mode=0o777, *args, **kwargs):
        name = Path(path).name
        with self._lock:
            if name.startswith(".tmp-"):
                counted = self.name is None or name.startswith(f".tmp-{self.name}-")
                self.artifacts += counted
                hit = counted and self.artifacts == self.at
                if self.full or (hit and self.step == "open"):
                    raise self._fail(str(path))
                fd = os.open(path, flags, mode, *args, **kwargs)
                if hit:
                    self._target = str(path)
                if hit and self.step == "write":
                    self._doomed.add(fd)
            else:
                fd = os.open(path, flags, mode, *args, **kwargs)
                if name == "manifest.jsonl":
                    self.appends += 1
                    if self.step == "append" and self.appends == self.at:
                        self._doomed.add(fd)
                if self.full and flags & (os.O_WRONLY | os.O_RDWR):
                    self._doomed.add(fd)
            self._paths[fd] = str(path)
            return fd

    def write(self, fd, data):
        with self._lock:
            doomed = fd in self._doomed
        if doomed:
            half = bytes(data)[: max(len(data) // 2, 1)]
            os.write(fd, half)  # what a filling disk lets through before refusing the rest
            with self._lock:
                raise self._fail(self._paths.get(fd, "?"))
        return os.write(fd, data)

    def link(self, src, dst, *args, **kwargs):
        with self._lock:
            if self.full or (self.step == "link" and str(src) == self._target):
                raise self._fail(str(dst))
        return os.link(src, dst, *args, **kwargs)

    def close(self, fd):
        with self._lock:
            self._doomed.discard(fd)
            self._paths.pop(fd, None)
        return os.close(fd)


def install(monkeypatch, disk: FaultyDisk) -> FaultyDisk:
    monkeypatch.setattr(sareeflow.store, "os", disk)
    return disk


def temp_leftovers(root: Path) -> list[str]:
    """Temporary files anywhere under the storage root (a failed write must remove its own)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".tmp-*"))
