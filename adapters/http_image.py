"""The remote adapter: one HTTP call per ``run`` to an image service (DESIGN §7).

Wire protocol ``sareeflow-image/1`` (the fake in :mod:`adapters.fake_service` speaks it too)::

    POST {SAREEFLOW_REMOTE_ADAPTER_URL}/v1/images      Content-Type: application/json
      ImageRequest:  protocol, stage ("flatten" | "compose"), seed, strict_instructions,
                     forbidden_changes, image_png_b64 + image_sha256 (the input as PNG),
                     compose only: pose, placement_npz_b64 + placement_sha256 (the whole
                     PlacementMap, geometry and arrays, as PlacementMap.to_npz_bytes()),
                     output_size (exact (w, h)); always: max_side_px (longest side allowed)
    200 ImageResponse: protocol, image_png_b64 (RGB PNG), optional image_sha256, info (dict)
    429 / 5xx: busy or failing, worth retrying; any other status: the request was refused.

The backend owns the geometry: a compose service receives the placement map (where every
covered output pixel samples S_flat, and its shading) and must render into it; validation then
checks what came back against the same map. The body is built deterministically (fixed field
order, PNG and npz bytes independent of time), so the same inputs and seed give the same
request bytes; its SHA-256 travels as the ``Idempotency-Key`` header.

Failures are converted here, at the boundary, like httpx's transports map their backends'
errors: timeouts, connection failures, HTTP 429 and 5xx become
:class:`~sareeflow.errors.AdapterTransient` (the pose task retries them); refusals (other
statuses), malformed JSON, and undecodable, oversized or wrong-sized images become
:class:`~sareeflow.errors.AdapterUnavailable`. Messages are fixed, user-safe sentences; what the
service said goes to ``detail`` and the run log only, never to a client. ``info`` records the
call by hashes (request, input, placement, output) and a few short facts the service reported,
never instructions or raw service text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from sareeflow.errors import AdapterTransient, AdapterUnavailable, InvalidInput, SareeflowError
from sareeflow.imaging import decode_png, encode_png
from sareeflow.joblog import run_logger
from sareeflow.models import AdapterResult, FlattenInfo, PlacementMap
from sareeflow.settings import Settings

Stage = Literal["flatten", "compose"]

PROTOCOL = "sareeflow-image/1"
ENDPOINT = "/v1/images"
INPUT_PNG_COMPRESSION = 1
"""zlib level of the PNG sent: level 1 is ~6x faster than 6 for ~10 % more bytes (DESIGN §12),
and a local network moves the difference faster than level 6 would compress it."""
INFO_ALLOWANCE_BYTES = 1 << 20
"""Room in a response for everything but the image (JSON framing and ``info``)."""
ERROR_EXCERPT_CHARS = 300
"""How much of a refused or malformed answer is kept in the log detail."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SERVICE_FACTS = ("adapter", "model", "model_version", "pose", "seed", "method", "canvas_size")
"""The only keys of the service's ``info`` kept in ours: short facts about *how* it rendered.
Anything else (echoed instructions, model text) stays out of stored artifacts."""
SERVICE_FACT_MAX_CHARS = 200

# User-safe messages: fixed sentences, whatever the service said.
MSG_TIMEOUT = "The image service did not answer in time."
MSG_UNREACHABLE = "The image service could not be reached."
MSG_BUSY = "The image service is busy or failing."
MSG_REFUSED = "The image service refused the request."
MSG_MALFORMED = "The image service sent a malformed answer."
MSG_UNUSABLE = "The image service returned an unusable image."
MSG_MISCONFIGURED = "The image service address is not usable."
MSG_FAILED = "The call to the image service failed."


# ---------------------------------------------------------------- wire models
class ImageRequest(BaseModel):
    """What the adapter sends (``POST /v1/images``)."""

    model_config = ConfigDict(extra="forbid")

    protocol: Literal["sareeflow-image/1"] = PROTOCOL
    stage: Stage
    seed: int = Field(description="Same seed and inputs must give the same image.")
    strict_instructions: list[str] = Field(description="Constraints from earlier failures.")
    forbidden_changes: list[str] = Field(description="What the output must not change.")
    image_png_b64: str = Field(
        description="The input as base64 PNG: S_clean (RGBA) for flatten, S_flat (RGB) for compose."
    )
    image_sha256: str = Field(description="SHA-256 of the PNG bytes of image_png_b64.")
    pose: str | None = Field(None, description="Compose: the catalogue pose id.")
    placement_npz_b64: str | None = Field(
        None,
        description="Compose: PlacementMap.to_npz_bytes() as base64 (JSON geometry in 'meta', "
        "per region map_x/map_y/shading float32 arrays cropped to its bbox).",
    )
    placement_sha256: str | None = Field(None, description="PlacementMap.arrays_sha256().")
    output_size: tuple[int, int] | None = Field(
        None, description="Compose: the exact (w, h) of the image to return."
    )
    max_side_px: int = Field(gt=0, description="Longest side the returned image may have (px).")


class ImageResponse(BaseModel):
    """What a service answers with status 200."""

    model_config = ConfigDict(extra="ignore")

    protocol: Literal["sareeflow-image/1"]
    image_png_b64: str = Field(description="The result as base64 PNG, RGB 8-bit.")
    image_sha256: str | None = Field(None, description="SHA-256 of the PNG bytes, if given.")
    info: dict[str, Any] = Field(default_factory=dict, description="Facts about the render.")


Note = Annotated[str, StringConstraints(max_length=300)]


class RemoteFlattenInfo(FlattenInfo):
    """A flatten service's ``info``: FlattenInfo, with notes short enough to be plain statements
    (notes reach users; a long one is more likely raw model text than a statement)."""

    notes: list[Note] = Field(default=[], max_length=8)


# ---------------------------------------------------------------- request
def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_request(
    stage: Stage,
    image: np.ndarray,
    placement_map: PlacementMap | None,
    seed: int,
    strict_instructions: list[str],
    forbidden_changes: list[str],
    *,
    max_side_px: int,
) -> ImageRequest:
    """The request for one run; raises :class:`InvalidInput` for inputs no service could use."""
    _check_input(stage, image, placement_map)
    png = encode_png(image, compression=INPUT_PNG_COMPRESSION)
    fields: dict[str, Any] = {}
    if stage == "compose":
        assert placement_map is not None  # _check_input
        npz = placement_map.to_npz_bytes()
        fields = {
            "pose": placement_map.pose,
            "placement_npz_b64": base64.b64encode(npz).decode("ascii"),
            "placement_sha256": placement_map.arrays_sha256(),
            "output_size": tuple(placement_map.canvas_size),
        }
        max_side_px = max(placement_map.canvas_size)
    return ImageRequest(
        stage=stage,
        seed=int(seed),
        strict_instructions=list(strict_instructions),
        forbidden_changes=list(forbidden_changes),
        image_png_b64=base64.b64encode(png).decode("ascii"),
        image_sha256=sha256_hex(png),
        max_side_px=max_side_px,
        **fields,
    )


def encode_request(request: ImageRequest) -> bytes:
    """The request body: pydantic's JSON, fields in declaration order, so bytes are stable."""
    return request.model_dump_json().encode("utf-8")


def _check_input(stage: Stage, image: np.ndarray, placement_map: PlacementMap | None) -> None:
    channels = (3,) if stage == "compose" else (3, 4)
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] in channels
    ):
        kind = "S_flat as an RGB" if stage == "compose" else "S_clean as an RGBA"
        raise InvalidInput(f"The {stage} adapter needs {kind} uint8 image.")
    if stage == "flatten":
        return
    if placement_map is None:
        raise InvalidInput("The compose adapter needs a placement map.")
    height, width = image.shape[:2]
    if (width, height) != tuple(placement_map.flat_size):
        raise InvalidInput(
            f"S_flat is {width}x{height} but the placement map was built for "
            f"{placement_map.flat_size[0]}x{placement_map.flat_size[1]}."
        )
    missing = [r.name for r in placement_map.regions if r.name not in placement_map.arrays]
    if missing:
        # a map read back from placement.json has geometry only; the service needs the arrays
        raise InvalidInput("The placement map has no arrays; rebuild it before composing.")


# ---------------------------------------------------------------- response
def response_cap(max_pixels: int) -> int:
    """Largest acceptable response body (bytes) for an image of at most ``max_pixels``.

    A PNG is at most its raw RGB bytes plus a filter byte per row and deflate's block framing
    (covered by 1/64 extra); base64 adds a third; ``INFO_ALLOWANCE_BYTES`` covers the rest.
    """
    png_bound = 3 * max_pixels + max_pixels // 64 + 65536
    return 4 * png_bound // 3 + INFO_ALLOWANCE_BYTES


def png_dimensions(data: bytes) -> tuple[int, int]:
    """(w, h) from a PNG's IHDR chunk, read *before* decoding (a decompression-bomb guard)."""
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise AdapterUnavailable(MSG_UNUSABLE, detail="the returned image is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def parse_response(body: bytes) -> ImageResponse:
    """The validated response model; malformed JSON or fields → AdapterUnavailable."""
    try:
        return ImageResponse.model_validate_json(body)
    except ValidationError as exc:
        excerpt = body[:ERROR_EXCERPT_CHARS].decode("utf-8", "replace")
        raise AdapterUnavailable(
            MSG_MALFORMED,
            detail=f"{exc.error_count()} error(s): {exc.errors()[0]['msg']}; "
            f"body starts {excerpt!r}",
        ) from exc


def decode_image(
    response: ImageResponse, *, output_size: tuple[int, int] | None, max_side_px: int
) -> tuple[bytes, np.ndarray]:
    """(PNG bytes, RGB uint8 image) of a response, checked against the size asked for."""
    try:
        png = base64.b64decode(response.image_png_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AdapterUnavailable(MSG_UNUSABLE, detail=f"image is not base64: {exc}") from exc
    if response.image_sha256 is not None and response.image_sha256 != sha256_hex(png):
        raise AdapterUnavailable(MSG_UNUSABLE, detail="image_sha256 does not match the image")
    width, height = png_dimensions(png)
    if max(width, height) > max_side_px:
        raise AdapterUnavailable(
            MSG_UNUSABLE, detail=f"oversized image {width}x{height} (max side {max_side_px})"
        )
    if output_size is not None and (width, height) != tuple(output_size):
        raise AdapterUnavailable(
            MSG_UNUSABLE, detail=f"image is {width}x{height}, asked for {output_size}"
        )
    try:
        image = decode_png(png)
    except (ValueError, MemoryError) as exc:  # cv2 returns None for corrupt data → ValueError
        raise AdapterUnavailable(MSG_UNUSABLE, detail=f"PNG does not decode: {exc}") from exc
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise AdapterUnavailable(
            MSG_UNUSABLE, detail=f"image is {image.dtype} {image.shape}, not RGB uint8"
        )
    return png, image


def service_facts(info: dict[str, Any]) -> dict[str, Any]:
    """The allow-listed, short, scalar facts of a service's ``info`` (see ``SERVICE_FACTS``)."""
    kept: dict[str, Any] = {}
    for key in SERVICE_FACTS:
        value = info.get(key)
        if isinstance(value, bool | int | float) or (
            isinstance(value, str) and len(value) <= SERVICE_FACT_MAX_CHARS
        ):
            kept[key] = value
        elif (
            isinstance(value, list)
            and len(value) <= 4
            and all(isinstance(v, int | float) for v in value)
        ):
            kept[key] = list(value)
    return kept


def _canonical_sha256(value: Any) -> str:
    return sha256_hex(json.dumps(value, sort_keys=True, default=str).encode())


# ---------------------------------------------------------------- transport
class _Borrowed(httpx.BaseTransport):
    """An injected transport lent to one call's client: the client's exit must not close it
    (the adapter's owner does, through :meth:`HttpImageAdapter.close`)."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self._transport = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport.handle_request(request)

    def close(self) -> None:
        """Left open on purpose; see the class docstring."""


def _read_capped(chunks: Iterator[bytes], cap: int, deadline: float) -> bytes:
    """The whole body, refusing more than ``cap`` bytes or reading past ``deadline``."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise AdapterUnavailable(MSG_UNUSABLE, detail=f"response larger than {cap} bytes")
        if time.monotonic() > deadline:
            raise AdapterTransient(MSG_TIMEOUT, detail="response still arriving at the deadline")
        parts.append(chunk)
    return b"".join(parts)


def _status_error(response: httpx.Response, excerpt: bytes) -> AdapterUnavailable:
    """The error for a non-200 answer: 429 and 5xx are worth retrying, anything else is not."""
    text = excerpt.decode("utf-8", "replace")
    detail = f"HTTP {response.status_code}: {text!r}"
    if retry_after := response.headers.get("retry-after"):
        detail += f" (Retry-After: {retry_after[:40]})"
    if response.status_code == 429 or response.status_code >= 500:
        return AdapterTransient(MSG_BUSY, detail=detail)
    return AdapterUnavailable(MSG_REFUSED, detail=detail)


def _transport_error(exc: httpx.HTTPError | httpx.InvalidURL) -> AdapterUnavailable:
    """httpx's exceptions → ours (the same split as its own hierarchy draws)."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return AdapterTransient(MSG_TIMEOUT, detail=detail)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.LocalProtocolError):
        return AdapterUnavailable(MSG_MISCONFIGURED, detail=detail)
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError):
        return AdapterTransient(MSG_UNREACHABLE, detail=detail)
    return AdapterUnavailable(MSG_FAILED, detail=detail)


# ---------------------------------------------------------------- the adapter
class HttpImageAdapter:
    """``run(image, placement_map, seed, strict_instructions, forbidden_changes)`` over HTTP.

    ``transport`` replaces the network (``httpx.MockTransport``,
    :func:`adapters.fake_service.in_process_transport`); the adapter closes it in ``close()``.
    Each run uses its own short-lived client, so an adapter nobody closes leaks nothing.
    """

    def __init__(
        self, stage: Stage, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.stage: Stage = stage
        self.name = f"http_{stage}"
        self._url = settings.remote_adapter_url
        self._timeout_s = settings.remote_adapter_timeout_s
        self._flat_max_side = settings.work_max_side_px
        self._transport = transport

    def run(
        self,
        image: np.ndarray,
        placement_map: PlacementMap | None,
        seed: int,
        strict_instructions: list[str],
        forbidden_changes: list[str],
    ) -> AdapterResult:
        request = build_request(
            self.stage,
            image,
            placement_map,
            seed,
            strict_instructions,
            forbidden_changes,
            max_side_px=self._flat_max_side,
        )
        body = encode_request(request)
        started = time.monotonic()
        try:
            response = parse_response(self._post(body, request))
            png, output = decode_image(
                response, output_size=request.output_size, max_side_px=request.max_side_px
            )
            info = self._info(request, body, png, output, response.info)
        except SareeflowError as exc:
            run_logger().warning(
                "%s: seed %d request %s failed: %s [%s]",
                self.name,
                seed,
                sha256_hex(body)[:12],
                exc.message,
                exc.detail,
            )
            raise
        except Exception as exc:  # noqa: BLE001 - the contract: never a foreign exception
            run_logger().exception("%s: unexpected failure", self.name)
            raise AdapterUnavailable(MSG_FAILED, detail=repr(exc)) from exc
        run_logger().info(
            "%s: seed %d request %s (%d bytes) → output %s %dx%d in %.0f ms",
            self.name,
            seed,
            info["request_sha256"][:12],
            len(body),
            info["output_png_sha256"][:12],
            output.shape[1],
            output.shape[0],
            1000 * (time.monotonic() - started),
        )
        return AdapterResult(image=output, info=info)

    def close(self) -> None:
        """Close an injected transport (run's own clients are closed as each call ends)."""
        if self._transport is not None:
            self._transport.close()

    # ------------------------------------------------------------ one call
    def _post(self, body: bytes, request: ImageRequest) -> bytes:
        """POST the body; the 200 answer's bytes, or the mapped error."""
        deadline = time.monotonic() + self._timeout_s
        max_pixels = (
            request.output_size[0] * request.output_size[1]
            if request.output_size
            else request.max_side_px**2
        )
        headers = {"content-type": "application/json", "idempotency-key": sha256_hex(body)}
        transport = _Borrowed(self._transport) if self._transport is not None else None
        try:
            with (
                httpx.Client(
                    base_url=self._url,
                    timeout=httpx.Timeout(self._timeout_s),
                    transport=transport,
                    follow_redirects=False,
                ) as client,
                client.stream("POST", ENDPOINT, content=body, headers=headers) as response,
            ):
                if response.status_code != 200:
                    excerpt = next(response.iter_bytes(ERROR_EXCERPT_CHARS), b"")
                    raise _status_error(response, excerpt[:ERROR_EXCERPT_CHARS])
                cap = response_cap(max_pixels)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise AdapterUnavailable(
                        MSG_UNUSABLE, detail=f"Content-Length {declared} > cap {cap}"
                    )
                return _read_capped(response.iter_bytes(), cap, deadline)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _transport_error(exc) from exc

    def _info(
        self,
        request: ImageRequest,
        body: bytes,
        png: bytes,
        output: np.ndarray,
        remote: dict[str, Any],
    ) -> dict[str, Any]:
        """What this call is logged as: hashes of what went and came, and the service's facts."""
        info: dict[str, Any] = {
            "adapter": self.name,
            "stage": self.stage,
            "protocol": PROTOCOL,
            "seed": request.seed,
            "request_sha256": sha256_hex(body),
            "input_png_sha256": request.image_sha256,
            "placement_sha256": request.placement_sha256,
            "output_png_sha256": sha256_hex(png),
            "output_size": [int(output.shape[1]), int(output.shape[0])],
            "strict_instructions_count": len(request.strict_instructions),
            "forbidden_changes_count": len(request.forbidden_changes),
            "service": service_facts(remote),
            "service_info_sha256": _canonical_sha256(remote),
        }
        if self.stage == "flatten":
            info = {**self._flatten_info(remote, output).model_dump(mode="json"), **info}
        return info

    def _flatten_info(self, remote: dict[str, Any], output: np.ndarray) -> FlattenInfo:
        """The service's FlattenInfo (validated; it says where the corners were found)."""
        try:
            found = RemoteFlattenInfo.model_validate({**remote, "adapter": self.name})
        except ValidationError as exc:
            raise AdapterUnavailable(
                MSG_MALFORMED, detail=f"flatten info: {exc.errors()[0]['msg']}"
            ) from exc
        if tuple(found.output_size) != (output.shape[1], output.shape[0]):
            raise AdapterUnavailable(
                MSG_MALFORMED,
                detail=f"info.output_size {found.output_size} but image is "
                f"{output.shape[1]}x{output.shape[0]}",
            )
        return FlattenInfo.model_validate(found.model_dump())
