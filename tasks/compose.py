"""compose: render one pose from S_flat through the configured compose adapter.

The backend decides the geometry (:func:`sareeflow.placement.build_placement`); the adapter only
renders into it. Whatever an adapter returns is checked here, so a misbehaving remote service
becomes a categorised error, not a crash further down.
"""

from __future__ import annotations

import numpy as np

from adapters.base import ImageAdapter
from sareeflow.errors import AdapterUnavailable
from sareeflow.models import AdapterResult, PlacementMap


def compose_pose(
    s_flat: np.ndarray,
    placement: PlacementMap,
    adapter: ImageAdapter,
    seed: int,
    strict_instructions: list[str],
    forbidden_changes: list[str],
) -> AdapterResult:
    """Ask the adapter for the pose image and check it has the canvas's shape."""
    result = adapter.run(s_flat, placement, seed, strict_instructions, forbidden_changes)
    width, height = placement.canvas_size
    image = result.image
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.shape == (height, width, 3)
    ):
        shape = getattr(image, "shape", None)
        raise AdapterUnavailable(
            "The image service returned an unusable image.",
            detail=f"{adapter.name}: expected {(height, width, 3)} uint8, got {shape}",
        )
    return result
