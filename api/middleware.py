"""A hard cap on request bodies, enforced while they stream in (before any parsing).

FastAPI parses a multipart form before the route runs, spooling files to disk; without a cap a
client could fill the disk with one request. This middleware refuses a declared
``Content-Length`` over the cap at once, and stops a chunked body the moment it passes the cap.
The upload route then checks the file itself against ``max_upload_bytes`` exactly.

It also refuses (400) a multipart body that ends without its closing delimiter: the multipart
parser treats such a body as complete, silently drops the unfinished part and leaves that part's
spooled temporary file to the garbage collector (python-multipart's ``finalize`` is a no-op;
Kludex/starlette#3153). Raising while the body is read makes Starlette close it at once.
"""

from __future__ import annotations

from fastapi import HTTPException
from python_multipart.multipart import parse_options_header
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
        closing = _closing_delimiter(scope)
        closed, tail = closing is None, b""

        async def limited_receive() -> Message:
            nonlocal received, closed, tail
            event = await receive()
            if event["type"] == "http.request":
                body = event.get("body", b"")
                received += len(body)
                if received > self.max_body_bytes:
                    # An HTTPException is the one error FastAPI lets out of body parsing as is.
                    raise HTTPException(status_code=413, detail=message)
                if not closed:
                    window = tail + body
                    closed = closing in window
                    tail = window[-len(closing) :]
                if not closed and not event.get("more_body", False):
                    raise HTTPException(status_code=400, detail="The form ended too early.")
            return event

        await self.app(scope, limited_receive, send)


def _closing_delimiter(scope: Scope) -> bytes | None:
    """``--boundary--`` of a multipart/form-data request, None for any other request."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind, params = parse_options_header(value)
            boundary = params.get(b"boundary")
            if kind == b"multipart/form-data" and boundary:
                return b"--" + boundary + b"--"
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
