"""Builds the HTTP API (DESIGN §9). HTTP only: no pixels here, the flows do the image work.

Serve it with uvicorn's factory mode, which builds the app in the server process::

    uvicorn api.main:create_app --factory --host 127.0.0.1 --port 8000

OpenAPI: ``/docs`` (Swagger UI) and ``/openapi.json``. Everything lives under ``/api/v1``;
``/healthz`` is also served at the root for probes that don't know the prefix. ``/`` is the
gallery page (``api/routes/ui.py``), a plain client of the same API.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.launcher import Launcher, PrefectLauncher
from api.middleware import BodySizeLimit
from api.routes import api_router, health, ui
from api.urls import API_V1
from sareeflow.settings import Settings, get_settings
from sareeflow.store import Store

logger = logging.getLogger("sareeflow.api")

DESCRIPTION = """\
Turns one photo of a saree into faithful catalogue images in fixed poses.

Upload a photo (`POST /api/v1/sarees`), start a job by mode (`POST .../jobs`), poll the job
(`GET /api/v1/jobs/{job_id}`), then show the gallery and download artifacts by the URLs the
responses give. Every error is `application/problem+json` with a `category`.
"""


def create_app(settings: Settings | None = None, launcher: Launcher | None = None) -> FastAPI:
    """The app over ``settings`` (default: from the environment) and ``launcher`` (Prefect)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.storage_root.mkdir(parents=True, exist_ok=True)
        logger.info("sareeflow API: storage root %s", settings.storage_root)
        start_warm_up = getattr(app.state.launcher, "start_warm_up", None)
        if start_warm_up is not None:
            start_warm_up()
        yield

    app = FastAPI(title="sareeflow", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.store = Store(settings.storage_root)
    app.state.launcher = launcher if launcher is not None else PrefectLauncher()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_upload_bytes=settings.max_upload_bytes)
    app.include_router(api_router, prefix=API_V1)
    app.include_router(health.router, include_in_schema=False)
    ui.install(app)  # the gallery page at / (not in the OpenAPI schema)
    return app
