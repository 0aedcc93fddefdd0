"""Shared fixtures: an isolated storage root and settings per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

PHOTOS_DIR = Path(__file__).resolve().parents[2] / "shared" / "photos" / "dev"


@pytest.fixture
def storage_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh storage root, also set as SAREEFLOW_STORAGE_ROOT for code that reads settings."""
    from sareeflow.settings import get_settings

    root = tmp_path / "storage_root"
    root.mkdir()
    monkeypatch.setenv("SAREEFLOW_STORAGE_ROOT", str(root))
    monkeypatch.delenv("SAREEFLOW_FAILURE_INJECTION", raising=False)
    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


@pytest.fixture
def store(storage_root: Path):
    from sareeflow.store import Store

    return Store(storage_root)


def real_photos() -> list[Path]:
    """The real saree photographs beside the project, or a skip when they are absent."""
    if not PHOTOS_DIR.is_dir():
        pytest.skip(f"real photos not available at {PHOTOS_DIR} (they live outside the repo)")
    return sorted(PHOTOS_DIR.glob("*.jpg"))
