"""flatten: S_clean → S_flat through the configured flatten adapter (DESIGN §2, §7).

The embedded adapter (``adapters/local_flatten.py``) fits a quadrilateral and evens the light;
a remote one can un-drape a worn saree. Either way the result is checked and stored here.
"""

from __future__ import annotations

import hashlib

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from adapters import get_adapter
from adapters.base import ImageAdapter
from sareeflow.constraints import BASE_FORBIDDEN_CHANGES
from sareeflow.errors import AdapterTransient, AdapterUnavailable
from sareeflow.models import AdapterRequestLog, FlattenInfo
from sareeflow.prepared import prepared_prefix, write_prepared
from sareeflow.settings import Settings
from sareeflow.store import ArtifactRecord, Store, sha256_hex


def flatten_seed(upload_sha256: str) -> int:
    """Deterministic seed of the flatten call: a function of the upload's content only."""
    return int.from_bytes(hashlib.sha256(f"{upload_sha256}:flatten".encode()).digest()[:4], "big")


def flatten(
    s_clean: np.ndarray, adapter: ImageAdapter, seed: int
) -> tuple[np.ndarray, FlattenInfo]:
    """Ask the adapter for S_flat and check what comes back."""
    result = adapter.run(s_clean, None, seed, [], list(BASE_FORBIDDEN_CHANGES))
    image = result.image
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
    ):
        raise AdapterUnavailable(
            "The image service returned an unusable image.",
            detail=f"{adapter.name}: flatten returned {getattr(image, 'shape', None)}",
        )
    info = FlattenInfo.model_validate(result.info)
    if image.shape[1] < image.shape[0]:
        raise AdapterUnavailable(
            "The image service returned a cloth in the wrong orientation.",
            detail=f"{adapter.name}: S_flat {image.shape[1]}x{image.shape[0]} is portrait",
        )
    return image, info


def retry_transient_only(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: a remote flatten that timed out or answered 5xx is tried
    again; anything else (bad input, a refused request, a bug) fails the job at once."""
    return isinstance(state.result(raise_on_failure=False), AdapterTransient)


@task(
    name="flatten",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[1, 4],
    retry_condition_fn=retry_transient_only,
)
def flatten_task(
    settings: Settings, saree_id: str, generation: int, s_clean: np.ndarray, upload_sha256: str
) -> tuple[np.ndarray, dict[str, ArtifactRecord]]:
    """Flatten S_clean; stores S_flat, flatten.json and the adapter's logged input."""
    adapter = get_adapter("flatten", settings)
    seed = flatten_seed(upload_sha256)
    store = Store(settings.storage_root)
    common = {
        "saree_id": saree_id,
        "generation": generation,
        "png_compression": settings.png_compression,
    }
    request = AdapterRequestLog(
        adapter=adapter.name,
        stage="flatten",
        seed=seed,
        strict_instructions=[],
        forbidden_changes=list(BASE_FORBIDDEN_CHANGES),
        image_sha256=sha256_hex(s_clean.tobytes()),
    )
    logged = f"{prepared_prefix(generation)}/flatten_adapter_input.json"
    if store.resolve(saree_id, logged).is_file():
        # A retry after a transient adapter error: the same input (same seed) is logged already.
        records = {"flatten_input": store.artifact(saree_id, logged)}
    else:
        records = {
            "flatten_input": write_prepared(
                store,
                filename="flatten_adapter_input.json",
                payload=request,
                kind="adapter_input",
                **common,
            )
        }
    s_flat, info = flatten(s_clean, adapter, seed)
    records["s_flat"] = write_prepared(
        store, filename="s_flat.png", payload=s_flat, kind="s_flat", **common
    )
    records["flatten"] = write_prepared(
        store, filename="flatten.json", payload=info, kind="flatten_info", **common
    )
    logger = get_run_logger()
    logger.info("flatten: %dx%d, confidence %.2f", *info.output_size, info.confidence)
    for note in info.notes:
        logger.warning("flatten: %s", note)
    return s_flat, records
