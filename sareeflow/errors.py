"""One error hierarchy for the whole backend.

Every failure that can reach a user is a :class:`SareeflowError` with a category and a short,
user-safe message. Detail for operators goes to ``detail`` (logged, never returned). Boundaries
(CLI, API, flows) convert foreign exceptions into these with ``raise Mapped(...) from exc``::

    SareeflowError                 category
    ├── InvalidInput               invalid_input        bad upload or request; never retried
    ├── NotFound                   not_found
    ├── Conflict                   conflict             a job is already queued/running, ...
    ├── ValidationFailed           validation_failed    an output drifted from the cloth; retried
    ├── AdapterUnavailable         adapter_unavailable  AI service down or misbehaving
    │   └── AdapterTransient       adapter_unavailable  worth retrying (timeout, 5xx)
    ├── OrchestratorUnavailable    orchestrator_unavailable  Prefect (or the API) down
    ├── StorageError               storage              disk full, permissions, write-once breach
    │   └── ArtifactExists         storage
    ├── Crashed                    crashed              the process running the job died
    └── InternalError              internal             a bug
"""

from __future__ import annotations

from typing import ClassVar


class SareeflowError(Exception):
    """Base class: ``category`` for machines, ``message`` for people, ``detail`` for logs."""

    category: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __reduce__(self):  # keep category/detail across pickling (Prefect persists exceptions)
        return (self.__class__, (self.message,), {"detail": self.detail})


class InvalidInput(SareeflowError):
    category = "invalid_input"
    http_status = 422


class NotFound(SareeflowError):
    category = "not_found"
    http_status = 404


class Conflict(SareeflowError):
    category = "conflict"
    http_status = 409


class ValidationFailed(SareeflowError):
    category = "validation_failed"
    http_status = 422

    def __init__(
        self, message: str, *, reasons: list[str] | None = None, detail: str | None = None
    ):
        super().__init__(message, detail=detail)
        self.reasons = reasons or []

    def __reduce__(self):
        return (self.__class__, (self.message,), {"detail": self.detail, "reasons": self.reasons})


class AdapterUnavailable(SareeflowError):
    category = "adapter_unavailable"
    http_status = 503


class AdapterTransient(AdapterUnavailable):
    """A remote failure worth retrying (timeout, connection reset, HTTP 5xx)."""


class OrchestratorUnavailable(SareeflowError):
    """The job could not be handed to Prefect (server down, deployment missing), or the CLI
    could not reach the running stack's API. Nothing ran; the request can be repeated."""

    category = "orchestrator_unavailable"
    http_status = 503


class StorageError(SareeflowError):
    category = "storage"
    http_status = 507


class ArtifactExists(StorageError):
    """A second write to a write-once artifact name."""


class Crashed(SareeflowError):
    category = "crashed"


class InternalError(SareeflowError):
    category = "internal"


RETRYABLE = (ValidationFailed, AdapterTransient)
"""Only these are retried by the pose task; bad input and bugs fail at once (DESIGN §6)."""


def user_safe(exc: BaseException) -> tuple[str, str]:
    """(category, message) that may be shown to a client for any exception."""
    if isinstance(exc, SareeflowError):
        return exc.category, exc.message
    if isinstance(exc, OSError) and exc.errno in (28, 122):  # ENOSPC, EDQUOT
        return StorageError.category, "The server ran out of storage space."
    if isinstance(exc, PermissionError):
        return StorageError.category, "The server could not write to its storage."
    return InternalError.category, "An internal error occurred; it has been logged."
