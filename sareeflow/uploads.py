"""Accepting an upload: check and normalise it, then store it whole or not at all."""

from __future__ import annotations

from sareeflow.imaging import encode_png, normalize_upload
from sareeflow.settings import Settings
from sareeflow.store import SareeRecord, Store


def store_upload(data: bytes, *, filename: str, settings: Settings) -> SareeRecord:
    """Validate ``data`` (raises InvalidInput before anything is written) and store a new saree."""
    upload = normalize_upload(data, settings=settings)
    store = Store(settings.storage_root)
    return store.create_saree(
        original=data,
        extension=upload.extension,
        normalized_png=encode_png(upload.image, compression=settings.png_compression),
        filename=filename,
        fmt=upload.format,
        size=upload.original_size,
        notes=upload.notes,
    )
