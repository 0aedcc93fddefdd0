"""The one contract every AI adapter implements (DESIGN §7).

Like httpx's transports: one method, small sibling implementations, a fake for tests. Adapters
are chosen by a settings name (``SAREEFLOW_FLATTEN_ADAPTER`` / ``SAREEFLOW_COMPOSE_ADAPTER``) →
class table in :mod:`adapters`. They must be deterministic for a seed, honour
``forbidden_changes``, and raise only :class:`~sareeflow.errors.AdapterUnavailable` (or its
retryable child :class:`~sareeflow.errors.AdapterTransient`), never a foreign exception.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from sareeflow.models import AdapterResult, PlacementMap


@runtime_checkable
class ImageAdapter(Protocol):
    """``run(image, placement_map, seed, strict_instructions, forbidden_changes) -> result``."""

    name: str

    def run(
        self,
        image: np.ndarray,
        placement_map: PlacementMap | None,
        seed: int,
        strict_instructions: list[str],
        forbidden_changes: list[str],
    ) -> AdapterResult: ...

    def close(self) -> None: ...
