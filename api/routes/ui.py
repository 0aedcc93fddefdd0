"""The gallery page at ``/``: plain HTML, CSS and JavaScript from ``api/static`` (no build step).

The page is a client of the public API like any other (``/api/v1/...``): it uploads, starts the
jobs the gallery's ``actions`` allow, polls the job, and shows the gallery. Nothing here reads
the store. The page and its assets stay out of the OpenAPI schema (``/docs`` documents the API).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
STATIC_PREFIX = "/static"
NO_CACHE = "no-cache"
"""The page and its assets change with the code: revalidate (ETag) on every load."""

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=FileResponse)
def gallery_page() -> FileResponse:
    """The single page; its script and stylesheet come from ``/static``."""
    return FileResponse(
        STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": NO_CACHE}
    )


class _RevalidatingStatic(StaticFiles):
    """StaticFiles whose responses say ``Cache-Control: no-cache`` (they carry ETags)."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("Cache-Control", NO_CACHE)
        return response


def install(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under ``/static``."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, _RevalidatingStatic(directory=STATIC_DIR), name="static")
