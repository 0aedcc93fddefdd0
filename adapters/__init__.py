"""AI adapters behind one contract (:mod:`adapters.base`), chosen by settings name.

``SAREEFLOW_FLATTEN_ADAPTER`` / ``SAREEFLOW_COMPOSE_ADAPTER``: ``local`` (embedded, default) or
``http`` (a remote image service at ``SAREEFLOW_REMOTE_ADAPTER_URL``).
"""

from __future__ import annotations

from typing import Literal

from adapters.base import ImageAdapter
from sareeflow.errors import AdapterUnavailable
from sareeflow.settings import Settings


def get_adapter(stage: Literal["flatten", "compose"], settings: Settings) -> ImageAdapter:
    """The adapter configured for ``stage`` (imports lazily: remote ones pull in httpx)."""
    choice = settings.flatten_adapter if stage == "flatten" else settings.compose_adapter
    if choice == "local":
        if stage == "flatten":
            from adapters.local_flatten import LocalFlattenAdapter

            return LocalFlattenAdapter(settings=settings)
        from adapters.local_compose import LocalComposeAdapter

        return LocalComposeAdapter()
    if choice == "http":
        if not settings.remote_adapter_url:
            raise AdapterUnavailable(
                "The image service is not configured.",
                detail="SAREEFLOW_REMOTE_ADAPTER_URL is empty",
            )
        from adapters.http_image import HttpImageAdapter

        return HttpImageAdapter(stage=stage, settings=settings)
    raise AdapterUnavailable("Unknown image adapter.", detail=f"{stage}: {choice}")
