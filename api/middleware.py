"""A hard cap on request bodies, enforced while they stream in (before any parsing).

FastAPI parses a multipart form before the route runs, spooling files to disk; without a cap a
client could fill the disk with one request. This middleware refuses a declared
``Content-Length`` over the cap at once, and stops a chunked body the moment it passes the cap.
The upload route then checks the file itself against ``max_upload_bytes`` exactly.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import UploadTooLarge, problem_response

MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for multipart boundaries and part headers on top of the file itself (bytes)."""


def too_large_message(max_upload_bytes: int) -> str:
    mib = 1024 * 1024
    limit = (
        f"{round(max_upload_bytes / mib, 1):g} MB"
        if max_upload_bytes >= mib
        else f"{max_upload_bytes // 1024} KB"
    )
    return f"The upload is larger than {limit}; please send a smaller photo."


class BodySizeLimit:
    """Pure ASGI middleware: 413 ``invalid_input`` for bodies over ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, *, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = max_upload_bytes + MULTIPART_OVERHEAD_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = too_large_message(self.max_upload_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            response = problem_response(413, UploadTooLarge.category, message)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_body_bytes:
                    # An HTTPException is the one error FastAPI lets out of body parsing as is.
                    raise HTTPException(status_code=413, detail=message)
            return event

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
