"""A local image service speaking ``sareeflow-image/1``: the test double of the http adapter.

What httpx's ``MockTransport`` is to httpx, this is to :mod:`adapters.http_image`: a real
server for the wire protocol, rendering with the embedded adapters
(:class:`~adapters.local_compose.LocalComposeAdapter`,
:class:`~adapters.local_flatten.LocalFlattenAdapter`) so its answers are real pixels, identical
to a local run. A :class:`Behaviour` scripts the ways a remote service misbehaves: failing the
first N calls with 503, answering slower than the adapter waits, garbage, a wrong-sized or
absurdly large image, or a colour cast that only goes away when the request forbids it (as a
generative model "improves" white balance unless told not to), which is how the
retry-with-constraints path is shown end to end.

Use it in-process with :func:`in_process_transport` (no sockets), or serve it::

    python -m adapters.fake_service --port 8097 [--cast-unless-forbidden white_balance]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Literal

import httpx
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from adapters.http_image import ENDPOINT, PNG_SIGNATURE, PROTOCOL, ImageRequest, ImageResponse
from adapters.local_compose import LocalComposeAdapter
from adapters.local_flatten import LocalFlattenAdapter
from sareeflow.errors import InvalidInput, SareeflowError
from sareeflow.imaging import decode_png, encode_png
from sareeflow.models import PlacementMap
from sareeflow.settings import get_settings

OUTPUT_PNG_COMPRESSION = 1
WARM_CAST_GAINS = (1.06, 1.0, 0.84)
"""R, G, B gains of the scripted colour cast: a warm white-balance drift of the whole image,
well past validation's ΔE limits on any cloth that is not near-black."""
HUGE_SIDE_PX = 100_000
"""Side the ``huge`` misbehaviour claims in its PNG header (never actually allocated)."""

Garbage = Literal["not_json", "bad_base64", "not_png", "wrong_protocol"]


class Behaviour(BaseModel):
    """How the fake misbehaves (all off: a faithful service)."""

    fail_first: int = Field(0, ge=0, description="Answer the first N requests with 503.")
    status: int | None = Field(
        None, ge=400, le=599, description="Answer every request with this status."
    )
    delay_s: float = Field(0.0, ge=0, description="Sleep this long before answering.")
    garbage: Garbage | None = Field(None, description="Answer 200 with this kind of garbage.")
    wrong_size: bool = Field(False, description="Return the image one column narrower.")
    huge: bool = Field(False, description="Return a PNG whose header claims 100000x100000 px.")
    cast_unless_forbidden: str | None = Field(
        None,
        description="Give the image a warm colour cast unless forbidden_changes holds this "
        "(e.g. 'white_balance', which the colour_shift retry rule adds).",
    )


class ServiceLog(BaseModel):
    """What the fake saw, for tests: one entry per request that reached the renderer."""

    calls: int = 0
    seen: list[dict] = []


# ---------------------------------------------------------------- rendering
def render(request: ImageRequest) -> tuple[np.ndarray, dict]:
    """Decode a request and render it with the embedded adapters (real pixels)."""
    try:
        png = base64.b64decode(request.image_png_b64, validate=True)
        image = decode_png(png)
    except ValueError as exc:
        raise InvalidInput("image_png_b64 is not a base64 PNG.") from exc
    if request.stage == "flatten":
        settings = get_settings().model_copy(update={"work_max_side_px": request.max_side_px})
        result = LocalFlattenAdapter(settings=settings).run(
            image, None, request.seed, request.strict_instructions, request.forbidden_changes
        )
        return result.image, result.info
    placement = _placement(request)
    result = LocalComposeAdapter().run(
        image, placement, request.seed, request.strict_instructions, request.forbidden_changes
    )
    return result.image, result.info


def _placement(request: ImageRequest) -> PlacementMap:
    if not request.placement_npz_b64:
        raise InvalidInput("compose needs placement_npz_b64.")
    try:
        placement = PlacementMap.from_npz_bytes(base64.b64decode(request.placement_npz_b64))
    except (ValueError, OSError, KeyError) as exc:
        raise InvalidInput("placement_npz_b64 is not a placement map.") from exc
    if request.placement_sha256 and placement.arrays_sha256() != request.placement_sha256:
        raise InvalidInput("placement_sha256 does not match the placement arrays.")
    return placement


def warm_cast(image: np.ndarray) -> np.ndarray:
    """The scripted white-balance drift (``WARM_CAST_GAINS``), rounded and clipped."""
    gains = np.asarray(WARM_CAST_GAINS, np.float32)
    return np.clip(np.rint(image.astype(np.float32) * gains), 0, 255).astype(np.uint8)


def huge_png_header() -> bytes:
    """A PNG signature and IHDR claiming ``HUGE_SIDE_PX`` square: what a decompression bomb
    looks like before it is decoded (the adapter must refuse it from the header alone)."""
    ihdr = struct.pack(">IIBBBBB", HUGE_SIDE_PX, HUGE_SIDE_PX, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    return PNG_SIGNATURE + chunk + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def _answer(request: ImageRequest, image: np.ndarray, info: dict, b: Behaviour) -> Response:
    """The 200 answer, honest or spoilt as scripted."""
    if b.garbage == "not_json":
        return Response(b"<html>502 upstream model crashed</html>", media_type="application/json")
    if b.cast_unless_forbidden and b.cast_unless_forbidden not in request.forbidden_changes:
        image = warm_cast(image)
    if b.wrong_size:
        image = np.ascontiguousarray(image[:, :-1])
    png = huge_png_header() if b.huge else encode_png(image, compression=OUTPUT_PNG_COMPRESSION)
    if b.garbage == "not_png":
        png = b"GIF89a definitely not a png"
    payload = base64.b64encode(png).decode("ascii")
    if b.garbage == "bad_base64":
        payload = "%%%" + payload[3:]
    answer = ImageResponse(protocol=PROTOCOL, image_png_b64=payload, info=info)
    body = answer.model_dump(mode="json")
    if b.garbage == "wrong_protocol":
        body["protocol"] = "someone-else/2"
    return JSONResponse(body)


# ---------------------------------------------------------------- the app
def create_app(behaviour: Behaviour | None = None) -> FastAPI:
    """The fake service. ``app.state.log`` (a :class:`ServiceLog`) records what it was asked."""
    b = behaviour or Behaviour()
    app = FastAPI(title="sareeflow fake image service", version=PROTOCOL)
    log = ServiceLog()
    lock = threading.Lock()
    app.state.log = log
    app.state.behaviour = b

    @app.get("/healthz")
    def healthz() -> dict:
        """Liveness and the protocol spoken."""
        return {"ok": True, "protocol": PROTOCOL}

    @app.post(ENDPOINT)
    def create_image(body: ImageRequest, http_request: Request) -> Response:
        """Render one flatten or compose request (or misbehave as scripted)."""
        with lock:
            log.calls += 1
            call = log.calls
            log.seen.append(
                {
                    "stage": body.stage,
                    "seed": body.seed,
                    "forbidden_changes": list(body.forbidden_changes),
                    "idempotency_key": http_request.headers.get("idempotency-key"),
                }
            )
        if b.delay_s:
            time.sleep(b.delay_s)
        if call <= b.fail_first:
            return JSONResponse(
                {"detail": "model warming up"}, status_code=503, headers={"retry-after": "0"}
            )
        if b.status is not None:
            return JSONResponse({"detail": "scripted failure"}, status_code=b.status)
        try:
            image, info = render(body)
        except InvalidInput as exc:
            return JSONResponse({"detail": exc.message}, status_code=422)
        except SareeflowError as exc:
            return JSONResponse({"detail": exc.message}, status_code=500)
        return _answer(body, image, info, b)

    return app


# ---------------------------------------------------------------- in-process transport
def in_process_transport(app: FastAPI) -> httpx.MockTransport:
    """A synchronous httpx transport that calls ``app`` in this process (no sockets), honouring
    the client's read timeout, so slow-service behaviour is testable without a server.

    httpx's ``ASGITransport`` is async-only and the adapter's client is synchronous, so each
    request runs the app through it on a worker thread with its own event loop (which also keeps
    clear of any loop the caller is running).
    """

    def handler(request: httpx.Request) -> httpx.Response:
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        content = request.read()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        call = _call_app(app, request.method, request.url.path, request.headers.raw, content)
        try:
            status, headers, body = pool.submit(asyncio.run, call).result(timeout=read_timeout)
        except concurrent.futures.TimeoutError as exc:
            raise httpx.ReadTimeout("in-process service too slow", request=request) from exc
        finally:
            pool.shutdown(wait=False)  # a too-slow render finishes on its own, unawaited
        return httpx.Response(status, headers=headers, content=body)

    return httpx.MockTransport(handler)


async def _call_app(
    app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]], content: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake-service") as client:
        answer = await client.request(method, path, headers=headers, content=content)
        return answer.status_code, answer.headers.raw, answer.content


# ---------------------------------------------------------------- command line
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m adapters.fake_service", description=__doc__.splitlines()[0]
    )

    def about(field: str) -> str | None:
        return Behaviour.model_fields[field].description

    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--fail-first", type=int, default=0, metavar="N", help=about("fail_first"))
    parser.add_argument("--status", type=int, default=None, help=about("status"))
    parser.add_argument("--delay", type=float, default=0.0, metavar="S", help=about("delay_s"))
    parser.add_argument(
        "--garbage", choices=list(Garbage.__args__), default=None, help=about("garbage")
    )
    parser.add_argument("--wrong-size", action="store_true", help=about("wrong_size"))
    parser.add_argument("--huge", action="store_true", help=about("huge"))
    parser.add_argument(
        "--cast-unless-forbidden",
        default=None,
        metavar="CHANGE",
        help=about("cast_unless_forbidden"),
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    args = parse_args(argv)
    behaviour = Behaviour(
        fail_first=args.fail_first,
        status=args.status,
        delay_s=args.delay,
        garbage=args.garbage,
        wrong_size=args.wrong_size,
        huge=args.huge,
        cast_unless_forbidden=args.cast_unless_forbidden,
    )
    uvicorn.run(create_app(behaviour), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
