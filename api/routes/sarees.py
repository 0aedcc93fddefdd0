"""Sarees: upload a photo, read a saree with its jobs, read its gallery."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, File, Request, Response, UploadFile

from api.deps import SettingsDep, StoreDep, UrlsDep
from api.errors import UploadTooLarge, problem_responses
from api.middleware import too_large_message
from api.schemas import GalleryPublic, SareePublic
from sareeflow.errors import InvalidInput
from sareeflow.gallery import build_gallery
from sareeflow.jobs import reconcile, saree_jobs
from sareeflow.uploads import store_upload

router = APIRouter(prefix="/sarees", tags=["sarees"])

UPLOAD_CHUNK_BYTES = 1024 * 1024
"""How much of an upload is read at a time (bytes) while counting it against the cap."""


@router.post(
    "",
    status_code=201,
    response_model=SareePublic,
    responses=problem_responses(400, 413, 422, 507),
)
async def create_saree(
    file: Annotated[
        UploadFile, File(description="One photo of the saree (JPEG, PNG, WebP, TIFF).")
    ],
    settings: SettingsDep,
    urls: UrlsDep,
    request: Request,
    response: Response,
) -> SareePublic:
    """Upload one photo of a saree; it is checked, stored whole, and gets a new saree id."""
    if len((await request.form()).getlist("file")) != 1:
        # FastAPI would silently keep the last of several 'file' parts; which photo the
        # seller meant is ambiguous, so refuse instead of guessing.
        raise InvalidInput("Send exactly one photo, in the form field 'file'.")
    data = await read_capped(file, settings.max_upload_bytes)
    filename = file.filename or "upload"
    record = await anyio.to_thread.run_sync(
        partial(store_upload, data, filename=filename, settings=settings)
    )
    response.headers["Location"] = urls.saree(record.saree_id)
    return SareePublic.build(record, [], urls)


async def read_capped(upload: UploadFile, max_bytes: int) -> bytes:
    """The upload's bytes, read in chunks and abandoned (413) as soon as they pass ``max_bytes``."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await upload.read(UPLOAD_CHUNK_BYTES):
        total += len(chunk)
        if total > max_bytes:
            raise UploadTooLarge(too_large_message(max_bytes))
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/{saree_id}", response_model=SareePublic, responses=problem_responses(404))
def read_saree(saree_id: str, store: StoreDep, urls: UrlsDep) -> SareePublic:
    """A saree's upload record, its jobs (oldest first) and links to everything else."""
    record = store.require_saree(saree_id)
    jobs = [reconcile(store, state) for state in saree_jobs(store, saree_id)]
    return SareePublic.build(record, jobs, urls)


@router.get("/{saree_id}/gallery", response_model=GalleryPublic, responses=problem_responses(404))
def read_gallery(saree_id: str, store: StoreDep, urls: UrlsDep) -> GalleryPublic:
    """The 12 poses as a frontend shows them: label, status, latest passing image, checks."""
    record = store.require_saree(saree_id)
    return GalleryPublic.build(build_gallery(store, saree_id), record, urls)
