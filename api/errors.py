"""Every error leaves the API as an RFC 9457 problem+json body, mapped here and nowhere else.

``{type, title, status, detail, category}``: ``category`` is the :class:`SareeflowError`
category a client branches on; ``detail`` is the error's user-safe message. Operators get the
rest (``exc.detail``, stack traces) in the server log only. Never in a body: stack traces, file
paths, pydantic internals, or the client's own input echoed back.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import Problem
from sareeflow.errors import InternalError, InvalidInput, SareeflowError

logger = logging.getLogger("sareeflow.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:sareeflow:problem:"
"""``type`` is ``urn:sareeflow:problem:<category>``: stable, and not pretending to be a page."""

TITLES = {
    "invalid_input": "Invalid input",
    "not_found": "Not found",
    "conflict": "Conflict",
    "validation_failed": "Validation failed",
    "adapter_unavailable": "Image service unavailable",
    "orchestrator_unavailable": "Orchestrator unavailable",
    "storage": "Storage error",
    "crashed": "Job crashed",
    "cancelled": "Job cancelled",
    "internal": "Internal error",
}

INTERNAL_MESSAGE = "An internal error occurred; it has been logged."

FIELD_HINTS = {
    "mode": "'mode' must be one of: standard, extend, retry_failed.",
    "file": "send the photo as the multipart form field 'file'.",
}
"""Extra help for the request fields a client gets wrong most, keyed by field name."""


class UploadTooLarge(InvalidInput):
    """The request body is over ``max_upload_bytes``: 413, category ``invalid_input``."""

    http_status = 413


def problem_response(
    status: int, category: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """One problem+json response; ``detail`` must already be user-safe."""
    body = {
        "type": f"{PROBLEM_TYPE_PREFIX}{category}",
        "title": TITLES.get(category, HTTPStatus(status).phrase),
        "status": status,
        "detail": detail,
        "category": category,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses a route can return."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


async def handle_sareeflow_error(request: Request, exc: Exception) -> JSONResponse:
    """A categorised error: its own status and message; its detail goes to the log only."""
    assert isinstance(exc, SareeflowError)
    status = exc.http_status
    level = logging.ERROR if status >= 500 else logging.INFO
    logger.log(
        level,
        "%s %s -> %d %s: %s%s",
        request.method,
        request.url.path,
        status,
        exc.category,
        exc.message,
        f" ({exc.detail})" if exc.detail else "",
        exc_info=exc if status >= 500 else None,
    )
    return problem_response(status, exc.category, exc.message)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method, body limits) in the same shape."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        category, message = "not_found", "Nothing is at this address."
    elif status == 413:
        category, message = UploadTooLarge.category, str(exc.detail)
    elif status < 500:
        category, message = (
            InvalidInput.category,
            f"The request was rejected ({HTTPStatus(status).phrase}).",
        )
    else:
        category, message = InternalError.category, INTERNAL_MESSAGE
    logger.info("%s %s -> %d %s", request.method, request.url.path, status, category)
    return problem_response(status, category, message, headers=getattr(exc, "headers", None))


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 ``invalid_input`` naming the offending fields (our names only, never the input)."""
    assert isinstance(exc, RequestValidationError)
    logger.info("%s %s -> 422 invalid_input: %s", request.method, request.url.path, exc.errors())
    return problem_response(422, InvalidInput.category, validation_message(exc.errors()))


def validation_message(errors: Any) -> str:
    """A short sentence about which declared fields are wrong; unknown keys are not named."""
    if any(error.get("type") == "json_invalid" for error in errors):
        return "The request body is not valid JSON."
    fields: list[str] = []
    for error in errors:
        if error.get("type") == "extra_forbidden":
            continue  # the key is the client's own input: say "unexpected field" without it
        names = [part for part in error.get("loc", ()) if isinstance(part, str)]
        name = names[-1] if names and names[-1] not in ("body", "query", "path") else None
        if name and name.isidentifier() and name not in fields:
            fields.append(name)
    parts = []
    if fields:
        parts.append(f"Invalid or missing field(s): {', '.join(fields)}.")
        parts += [f"Hint: {FIELD_HINTS[name]}" for name in fields if name in FIELD_HINTS]
    if any(error.get("type") == "extra_forbidden" for error in errors):
        parts.append("The request has an unexpected field.")
    return " ".join(parts) or "The request is not valid."


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Anything else is a bug: 500 ``internal``, a generic message, the traceback in the log."""
    logger.error("%s %s -> 500 internal: %r", request.method, request.url.path, exc, exc_info=exc)
    return problem_response(500, InternalError.category, INTERNAL_MESSAGE)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping from exceptions to problem+json on ``app``."""
    app.add_exception_handler(SareeflowError, handle_sareeflow_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(Exception, handle_unexpected)
