"""Liveness for load balancers and `make run`: the process answers and can write its store."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Response

from api.deps import SettingsDep
from api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The storage root is not writable."}},
)
def read_health(settings: SettingsDep, response: Response) -> HealthPublic:
    """200 ``ok`` when the API runs and its storage root is writable, else 503 ``degraded``."""
    writable = storage_writable(settings.storage_root)
    if not writable:
        response.status_code = 503
    return HealthPublic(status="ok" if writable else "degraded", storage_writable=writable)


def storage_writable(root: Path) -> bool:
    """Whether this process may create files in ``root`` (no probe file: write-once store)."""
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the store creates a missing root on first write
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)
