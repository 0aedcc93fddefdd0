"""Artifacts: the listing of a saree's stored files, and their bytes by the listed URL.

Only files listed in the saree's manifest are served, and never the kinds that carry prompts
or raw model input/output (``adapter_input``, ``adapter_output``): the frontend never sees
prompts (DESIGN §7). Anything else, including every traversal trick, is a plain 404.
Artifacts are write-once, so their sha256 is a strong ETag and they may be cached forever.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from api.deps import StoreDep, UrlsDep
from api.errors import problem_responses
from api.schemas import ArtifactsPublic
from sareeflow.errors import NotFound
from sareeflow.poses import load_catalogue
from sareeflow.store import ArtifactRecord, Store

logger = logging.getLogger("sareeflow.api")

router = APIRouter(prefix="/sarees/{saree_id}/artifacts", tags=["artifacts"])

PRIVATE_KINDS = frozenset({"adapter_input", "adapter_output"})
"""Artifact kinds holding prompts (strict instructions) or raw model I/O: never listed or served."""

MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".json": "application/json",
}
"""By extension; anything else (``.npz`` placement maps, ...) is application/octet-stream."""

CACHE_FOREVER = "public, max-age=31536000, immutable"
"""One year (s), the longest HTTP caches honour; safe because an artifact never changes."""


@router.get("", response_model=ArtifactsPublic, responses=problem_responses(404))
def list_artifacts(saree_id: str, store: StoreDep, urls: UrlsDep) -> ArtifactsPublic:
    """Every stored artifact of a saree with its sha256, size and download URL (no prompts)."""
    store.require_saree(saree_id)
    records = [r for r in store.artifacts(saree_id) if r.kind not in PRIVATE_KINDS]
    labels = {pose_id: spec.label for pose_id, spec in load_catalogue().poses.items()}
    return ArtifactsPublic.build(saree_id, records, labels, urls)


@router.get(
    "/{path:path}",
    response_class=Response,
    responses={
        200: {
            "description": "The artifact's bytes; ETag is its sha256.",
            "content": {media: {} for media in sorted(set(MEDIA_TYPES.values()))}
            | {"application/octet-stream": {}},
        },
        304: {"description": "Not modified (If-None-Match matched the ETag)."},
        **problem_responses(404),
    },
)
def read_artifact(saree_id: str, path: str, request: Request, store: StoreDep) -> Response:
    """The bytes of one listed artifact, cacheable forever; use the URLs the listings give."""
    record, file = public_artifact(store, saree_id, path)
    headers = {
        "ETag": f'"{record.sha256}"',
        "Cache-Control": CACHE_FOREVER,
        "X-Content-Type-Options": "nosniff",
    }
    if etag_matches(request.headers.get("if-none-match"), record.sha256):
        return Response(status_code=304, headers=headers)
    media_type = MEDIA_TYPES.get(
        PurePosixPath(record.path).suffix.lower(), "application/octet-stream"
    )
    return FileResponse(file, media_type=media_type, headers=headers)


def public_artifact(store: Store, saree_id: str, relpath: str) -> tuple[ArtifactRecord, Path]:
    """The manifest record and real file of a servable artifact, or :class:`NotFound`."""
    store.require_saree(saree_id)
    candidate = store.resolve(saree_id, relpath)  # refuses absolute paths, '..', odd characters
    record = store.artifact(saree_id, relpath)  # only what the manifest lists
    if record.kind in PRIVATE_KINDS:
        raise NotFound("No such artifact.")
    real = Path(os.path.realpath(candidate))
    own = Path(os.path.realpath(store.saree_dir(saree_id)))
    if not real.is_relative_to(own) or not real.is_file():
        logger.warning(
            "artifact %s of saree %s resolves outside its folder or is gone", relpath, saree_id
        )
        raise NotFound("No such artifact.")
    if real.stat().st_size != record.size:  # never serve bytes under an ETag they don't match
        logger.error("artifact %s of saree %s differs from its manifest entry", relpath, saree_id)
        raise NotFound("No such artifact.")
    return record, real


def etag_matches(if_none_match: str | None, sha256: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or any listed tag equal to ours (weak comparison)."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == f'"{sha256}"':
            return True
    return False
