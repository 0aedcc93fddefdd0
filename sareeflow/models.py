"""Data shared by stages, adapters, validation, flows and the API.

Pydantic models are what is stored as JSON; arrays travel beside them as NumPy (RGB ``uint8``
images, ``H x W x 3``, unless a docstring says otherwise).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

PartName = Literal["body", "border_top", "border_bottom", "pallu"]
PART_NAMES: tuple[PartName, ...] = ("body", "border_top", "border_bottom", "pallu")
RegionKind = Literal["body", "border", "pallu"]
Rect = tuple[int, int, int, int]
"""``(x, y, w, h)`` in pixels."""


# ---------------------------------------------------------------- prepare stages (once per saree)
class IsolateInfo(BaseModel):
    """What isolate decided (stored as ``isolate.json``)."""

    method: Literal["alpha", "background_model"]
    foreground_fraction: float = Field(ge=0, le=1)
    confidence: float = Field(ge=0, le=1)
    notes: list[str] = []


class FlattenInfo(BaseModel):
    """What flatten did (stored as ``flatten.json``)."""

    adapter: str
    corners: list[tuple[float, float]] = Field(
        description="Cloth corners found in S_clean (TL, TR, BR, BL of the canonical result), px."
    )
    output_size: tuple[int, int] = Field(description="(w, h) of S_flat in px.")
    rotated_degrees: int = Field(description="Rotation applied for canonical orientation.")
    mirrored: bool = False
    quad_fit_error: float = Field(
        ge=0, description="Mean distance of the mask outline from the fitted quad, as a fraction."
    )
    confidence: float = Field(ge=0, le=1)
    notes: list[str] = Field(
        default=[], description="Plain statements, e.g. that the cloth did not look laid flat."
    )


class PartInfo(BaseModel):
    name: PartName
    rect: Rect | None = Field(description="Rectangle in S_flat, or None when the part is absent.")
    confidence: float = Field(ge=0, le=1)
    reason: str | None = Field(None, description="Why the part is absent or uncertain.")


class PartsInfo(BaseModel):
    """``parts.json``: where each part lies in S_flat."""

    flat_size: tuple[int, int] = Field(description="(w, h) of S_flat.")
    parts: dict[PartName, PartInfo]

    def rect(self, name: PartName) -> Rect | None:
        return self.parts[name].rect

    def present(self, name: PartName) -> bool:
        return self.parts[name].rect is not None


# ---------------------------------------------------------------- placement (pose geometry)
class PlacementRegion(BaseModel):
    """One region of a pose image and where its pixels come from in S_flat."""

    name: str = Field(
        description="Region name from the pose catalogue, e.g. 'pleats', 'hem_border'."
    )
    kind: RegionKind
    part: PartName = Field(description="The part that fills this region.")
    bbox: Rect = Field(description="Bounding box in output pixels.")
    border_path: list[tuple[float, float]] | None = Field(
        None, description="Centre line of a border region in output px (border regions only)."
    )
    border_width_px: float | None = None


class PlacementMap(BaseModel):
    """Where every covered output pixel samples S_flat, and its fold shading.

    Arrays are kept per region, cropped to the region's bbox: ``map_x``/``map_y`` (float32,
    S_flat coordinates, ``-1`` where the region does not own the pixel) and ``shading``
    (float32 multiplicative factor, 1 = unshaded). Region masks never overlap: each output pixel
    belongs to at most one region (the visible one).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pose: str
    canvas_size: tuple[int, int] = Field(description="(w, h) of the output image.")
    flat_size: tuple[int, int] = Field(description="(w, h) of the S_flat it samples.")
    regions: list[PlacementRegion]
    arrays: dict[str, dict[str, np.ndarray]] = Field(default_factory=dict, exclude=True)

    def mask(self, region: str) -> np.ndarray:
        return self.arrays[region]["map_x"] >= 0

    def arrays_sha256(self) -> str:
        """Digest of every array (region, name, dtype, shape, bytes), in a fixed order."""
        digest = hashlib.sha256()
        for region in sorted(self.arrays):
            for name in sorted(self.arrays[region]):
                arr = np.ascontiguousarray(self.arrays[region][name])
                digest.update(f"{region}/{name}:{arr.dtype.str}:{arr.shape}".encode())
                digest.update(arr.tobytes())
        return digest.hexdigest()

    def record(self) -> dict:
        """What is stored per pose (``placement.json``): the geometry and a digest of the maps.

        The maps themselves (~10 MB a pose) are derived data: ``build_placement`` rebuilds them
        exactly from the catalogue and ``parts.json``; storing them compressed cost ~350 ms a
        pose (``make bench``), so the store keeps their digest and ``validate`` checks a rebuilt
        map against it.
        """
        return {**self.model_dump(mode="json"), "arrays_sha256": self.arrays_sha256()}

    def to_npz_bytes(self) -> bytes:
        """Serialise deterministically (npz without compression timestamps; JSON meta inside)."""
        # np.savez stamps each member with the current time; a fixed ZipInfo date keeps the
        # artifact byte-identical run to run.
        members: dict[str, np.ndarray] = {
            "meta": np.frombuffer(self.model_dump_json().encode(), dtype=np.uint8)
        }
        for region, arrs in self.arrays.items():
            for key, arr in arrs.items():
                members[f"{region}/{key}"] = np.ascontiguousarray(arr)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            for name, arr in members.items():
                payload = io.BytesIO()
                np.lib.format.write_array(payload, arr, allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, payload.getvalue(), compresslevel=1)
        return buf.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> PlacementMap:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = cls.model_validate_json(npz["meta"].tobytes().decode())
            for key in npz.files:
                if key == "meta":
                    continue
                region, name = key.split("/", 1)
                meta.arrays.setdefault(region, {})[name] = npz[key]
        return meta


# ---------------------------------------------------------------- adapters
class AdapterRequestLog(BaseModel):
    """What an adapter was asked (stored per attempt as ``adapter_input.json``; never shown to users)."""

    adapter: str
    stage: Literal["flatten", "compose"]
    seed: int
    strict_instructions: list[str]
    forbidden_changes: list[str]
    image_sha256: str
    placement_sha256: str | None = None
    pose: str | None = None
    attempt: int | None = None


@dataclass
class AdapterResult:
    image: np.ndarray
    """RGB ``uint8`` for compose; RGB ``uint8`` S_flat for flatten."""
    info: dict = field(default_factory=dict)
    """Adapter-specific, JSON-serialisable facts (model, timings, FlattenInfo fields...)."""


# ---------------------------------------------------------------- validation
FailureKind = Literal[
    "border_distortion",
    "border_missing",
    "color_shift",
    "pattern_loss",
    "pallu_mismatch",
    "misplaced",
]


class RegionCheck(BaseModel):
    """The seed's per-region JSON, plus what a retry prompt and a person need."""

    model_config = ConfigDict(populate_by_name=True)

    region: str
    kind: RegionKind
    part: PartName
    bbox: Rect
    ssim: float
    delta_e: float
    pattern_score: float
    border_continuity: float | None = None
    border_max_offset_px: float | None = None
    border_breaks: int | None = None
    passed: bool = Field(alias="pass")
    failures: list[FailureKind] = []
    reasons: list[str] = Field(
        default=[], description="Plain sentences, usable in a retry instruction."
    )


class ValidationReport(BaseModel):
    pose: str
    passed: bool
    regions: list[RegionCheck]

    @property
    def failures(self) -> list[FailureKind]:
        seen: list[FailureKind] = []
        for check in self.regions:
            for kind in check.failures:
                if kind not in seen:
                    seen.append(kind)
        return seen

    @property
    def reasons(self) -> list[str]:
        return [reason for check in self.regions for reason in check.reasons]
