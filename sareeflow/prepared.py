"""Deterministic inputs (S_clean, S_flat, parts) made once per saree and reused by every later
generation (DESIGN §2). They live in the generation that made them, and count only once that
generation wrote ``prepared/prepared.json`` — the last file of the set, so a crash half-way
through preparing leaves a set nobody reuses."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from sareeflow.imaging import encode_png
from sareeflow.store import ArtifactRecord, Store

PREPARED_DIR = "prepared"
MARKER = "prepared.json"


class PreparedRef(BaseModel):
    """``prepared.json``: which generation made the set, and every file in it by hash."""

    generation: int
    files: dict[str, str]
    """name → relative path (from the saree folder)."""
    sha256: dict[str, str]
    """name → sha256 of that file."""

    def path(self, name: str) -> str:
        return self.files[name]


def prepared_prefix(generation: int) -> str:
    return f"generations/{generation:04d}/{PREPARED_DIR}"


def latest_prepared(store: Store, saree_id: str) -> PreparedRef | None:
    """The newest complete prepared set of a saree, or None."""
    for generation in reversed(store.generations(saree_id)):
        marker = f"{prepared_prefix(generation)}/{MARKER}"
        if store.resolve(saree_id, marker).is_file():
            return PreparedRef.model_validate(store.read_json(saree_id, marker))
    return None


def write_prepared(
    store: Store,
    *,
    saree_id: str,
    generation: int,
    filename: str,
    payload: np.ndarray | BaseModel | dict,
    kind: str,
    png_compression: int,
) -> ArtifactRecord:
    """Store one prepared artifact: arrays as lossless PNG, models and dicts as JSON."""
    relpath = f"{prepared_prefix(generation)}/{filename}"
    if isinstance(payload, np.ndarray):
        data = encode_png(payload, compression=png_compression)
        return store.write_artifact(saree_id, relpath, data, kind=kind, generation=generation)
    return store.write_json(saree_id, relpath, payload, kind=kind, generation=generation)
