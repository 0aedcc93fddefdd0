"""The http adapter against the fake image service, in process (no sockets).

Round trips must equal the embedded adapters byte for byte; every way a remote service fails
must become the right category, retryable or not, with a message that hides what it said.
"""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest

from adapters import get_adapter
from adapters.base import ImageAdapter
from adapters.fake_service import (
    Behaviour,
    create_app,
    huge_png_header,
    in_process_transport,
    warm_cast,
)
from adapters.http_image import (
    ENDPOINT,
    MSG_BUSY,
    MSG_FAILED,
    MSG_MALFORMED,
    MSG_MISCONFIGURED,
    MSG_REFUSED,
    MSG_TIMEOUT,
    MSG_UNREACHABLE,
    MSG_UNUSABLE,
    PROTOCOL,
    HttpImageAdapter,
)
from adapters.local_compose import LocalComposeAdapter
from adapters.local_flatten import LocalFlattenAdapter
from sareeflow.constraints import BASE_FORBIDDEN_CHANGES, build_constraints
from sareeflow.errors import (
    RETRYABLE,
    AdapterTransient,
    AdapterUnavailable,
    InvalidInput,
    user_safe,
)
from sareeflow.imaging import encode_png
from sareeflow.models import FlattenInfo, PartInfo, PartsInfo, PlacementMap
from sareeflow.placement import build_placement
from sareeflow.poses import load_catalogue
from sareeflow.settings import Settings
from sareeflow.synth import make_cloth, make_photo
from tasks.validate import validate_output

CANVAS_HEIGHT = 512
"""The smallest canvas the settings allow: the protocol does not care, and it is fast."""
URL = "http://image-service.test"
SAFE_MESSAGES = {
    MSG_BUSY,
    MSG_FAILED,
    MSG_MALFORMED,
    MSG_MISCONFIGURED,
    MSG_REFUSED,
    MSG_TIMEOUT,
    MSG_UNREACHABLE,
    MSG_UNUSABLE,
}
SERVICE_WORDS = ("warming", "scripted", "upstream", "html", "GIF", "someone-else", "Traceback")
"""Text the fake puts in its answers: none of it may reach a user-facing message."""
FORBIDDEN = list(BASE_FORBIDDEN_CHANGES)


def _settings(**changes) -> Settings:
    values = {"remote_adapter_url": URL, "compose_adapter": "http", "flatten_adapter": "http"}
    return Settings(**{**values, **changes})


def _adapter(stage: str, behaviour: Behaviour | None = None, **settings) -> HttpImageAdapter:
    app = create_app(behaviour)
    return HttpImageAdapter(stage, _settings(**settings), transport=in_process_transport(app))


@pytest.fixture(scope="module")
def saree() -> tuple[np.ndarray, PartsInfo]:
    rgb, truth = make_cloth(0)
    parts = PartsInfo(
        flat_size=truth.size,
        parts={
            name: PartInfo(
                name=name,
                rect=getattr(truth, name),
                confidence=1.0,
                reason=None if getattr(truth, name) else "absent",
            )
            for name in ("body", "border_top", "border_bottom", "pallu")
        },
    )
    return rgb, parts


@pytest.fixture(scope="module")
def placement(saree) -> PlacementMap:
    _, parts = saree
    return build_placement(load_catalogue().poses["01"], parts, canvas_height=CANVAS_HEIGHT)


@pytest.fixture(scope="module")
def s_clean() -> np.ndarray:
    """An RGBA cut-out of a generated product photo (what isolate hands to flatten)."""
    cloth, cloth_truth = make_cloth(101, size=(900, 220))
    photo, truth = make_photo(cloth, cloth_truth, 101, size=(640, 480))
    return np.dstack([photo, np.where(truth.mask, 255, 0).astype(np.uint8)])


def test_adapter_honours_the_contract_and_is_chosen_by_settings():
    adapter = get_adapter("compose", _settings())
    assert isinstance(adapter, HttpImageAdapter) and isinstance(adapter, ImageAdapter)
    assert adapter.name == "http_compose"
    assert get_adapter("flatten", _settings()).name == "http_flatten"
    adapter.close()
    with pytest.raises(AdapterUnavailable, match="not configured"):
        get_adapter("compose", Settings(compose_adapter="http", remote_adapter_url=""))


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("pose_id", ["01", "08"])
def test_compose_round_trip_equals_the_local_adapter_byte_for_byte(saree, pose_id):
    s_flat, parts = saree
    placement = build_placement(load_catalogue().poses[pose_id], parts, canvas_height=CANVAS_HEIGHT)
    remote = _adapter("compose").run(s_flat, placement, 1234, [], FORBIDDEN)
    local = LocalComposeAdapter().run(s_flat, placement, 1234, [], FORBIDDEN)
    assert remote.image.dtype == np.uint8 and remote.image.shape == local.image.shape
    assert encode_png(remote.image, compression=1) == encode_png(local.image, compression=1)
    assert remote.info["adapter"] == "http_compose"
    assert remote.info["service"]["adapter"] == "local_compose"
    assert remote.info["placement_sha256"] == placement.arrays_sha256()
    assert remote.info["output_size"] == list(placement.canvas_size)


def test_flatten_round_trip_equals_the_local_adapter_byte_for_byte(s_clean):
    settings = _settings()
    remote = _adapter("flatten").run(s_clean, None, 99, [], FORBIDDEN)
    local = LocalFlattenAdapter(settings=settings).run(s_clean, None, 99, [], FORBIDDEN)
    assert np.array_equal(remote.image, local.image)
    assert remote.image.shape[1] >= remote.image.shape[0]
    ours, theirs = FlattenInfo.model_validate(remote.info), FlattenInfo.model_validate(local.info)
    assert ours.adapter == "http_flatten"
    assert ours.model_dump(exclude={"adapter"}) == theirs.model_dump(exclude={"adapter"})
    assert remote.info["input_png_sha256"] and remote.info["placement_sha256"] is None


def test_info_keeps_hashes_and_facts_but_no_instructions(saree, placement):
    s_flat, _ = saree
    instructions, forbidden = build_constraints(["color_shift"], ["Region body: ΔE 7.5 > 3.0."])
    result = _adapter("compose").run(s_flat, placement, 5, instructions, forbidden)
    text = json.dumps(result.info)
    assert "colour shift" not in text and "ΔE" not in text  # the service echoed them back
    assert result.info["strict_instructions_count"] == len(instructions)
    for key in ("request_sha256", "input_png_sha256", "output_png_sha256", "service_info_sha256"):
        assert len(result.info[key]) == 64


# ---------------------------------------------------------------- determinism
def _capture(stage: str, seed: int, image: np.ndarray, placement: PlacementMap | None):
    """Run once through a MockTransport that records the request and answers with a grey image."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        w, h = placement.canvas_size
        png = encode_png(np.full((h, w, 3), 128, np.uint8), compression=1)
        body = {"protocol": PROTOCOL, "image_png_b64": base64.b64encode(png).decode()}
        return httpx.Response(200, json=body)

    adapter = HttpImageAdapter(stage, _settings(), transport=httpx.MockTransport(handler))
    adapter.run(image, placement, seed, ["keep borders"], FORBIDDEN)
    return seen[0]


def test_request_bytes_are_deterministic_for_a_seed(saree, placement):
    s_flat, _ = saree
    first = _capture("compose", 42, s_flat, placement)
    again = _capture("compose", 42, s_flat, placement)
    other = _capture("compose", 43, s_flat, placement)
    assert first.content == again.content
    assert first.headers["idempotency-key"] == again.headers["idempotency-key"]
    assert first.content != other.content
    a, b = json.loads(first.content), json.loads(other.content)
    assert {k for k in a if a[k] != b[k]} == {"seed"}
    assert first.method == "POST" and first.url.path == ENDPOINT
    assert a["protocol"] == PROTOCOL and a["stage"] == "compose" and a["pose"] == "01"
    sent = PlacementMap.from_npz_bytes(base64.b64decode(a["placement_npz_b64"]))
    assert sent.arrays_sha256() == placement.arrays_sha256() == a["placement_sha256"]
    assert tuple(a["output_size"]) == tuple(placement.canvas_size)


# ---------------------------------------------------------------- failures
FAILURES = {
    "503 while warming up": (Behaviour(fail_first=5), AdapterTransient, MSG_BUSY),
    "429 too many requests": (Behaviour(status=429), AdapterTransient, MSG_BUSY),
    "500 server error": (Behaviour(status=500), AdapterTransient, MSG_BUSY),
    "400 refused": (Behaviour(status=400), AdapterUnavailable, MSG_REFUSED),
    "404 wrong endpoint": (Behaviour(status=404), AdapterUnavailable, MSG_REFUSED),
    "slower than the timeout": (Behaviour(delay_s=1.0), AdapterTransient, MSG_TIMEOUT),
    "not json": (Behaviour(garbage="not_json"), AdapterUnavailable, MSG_MALFORMED),
    "wrong protocol": (Behaviour(garbage="wrong_protocol"), AdapterUnavailable, MSG_MALFORMED),
    "bad base64": (Behaviour(garbage="bad_base64"), AdapterUnavailable, MSG_UNUSABLE),
    "not a png": (Behaviour(garbage="not_png"), AdapterUnavailable, MSG_UNUSABLE),
    "wrong size": (Behaviour(wrong_size=True), AdapterUnavailable, MSG_UNUSABLE),
    "oversized png": (Behaviour(huge=True), AdapterUnavailable, MSG_UNUSABLE),
}


def _assert_user_safe(exc: AdapterUnavailable, message: str) -> None:
    category, shown = user_safe(exc)
    assert category == "adapter_unavailable" and shown == message == str(exc)
    assert shown in SAFE_MESSAGES
    assert not any(word.lower() in shown.lower() for word in SERVICE_WORDS)
    assert exc.detail  # operators get the detail, in the log


@pytest.mark.parametrize("case", list(FAILURES))
def test_each_service_failure_maps_to_its_category(saree, placement, case):
    behaviour, expected, message = FAILURES[case]
    s_flat, _ = saree
    # only the slow case waits less than the fake's delay: the others must not time out
    timeout = 0.3 if behaviour.delay_s else 60.0
    adapter = _adapter("compose", behaviour, remote_adapter_timeout_s=timeout)
    with pytest.raises(AdapterUnavailable) as caught:
        adapter.run(s_flat, placement, 1, [], FORBIDDEN)
    exc = caught.value
    assert type(exc) is expected
    assert isinstance(exc, RETRYABLE) is (expected is AdapterTransient)
    _assert_user_safe(exc, message)


def _mock(handler) -> HttpImageAdapter:
    return HttpImageAdapter("compose", _settings(), transport=httpx.MockTransport(handler))


def _raise(exc: Exception):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("handler", "expected", "message"),
    [
        (_raise(httpx.ConnectError("connection refused")), AdapterTransient, MSG_UNREACHABLE),
        (_raise(httpx.ReadError("connection reset by peer")), AdapterTransient, MSG_UNREACHABLE),
        (_raise(httpx.ConnectTimeout("connect timed out")), AdapterTransient, MSG_TIMEOUT),
        (_raise(httpx.RemoteProtocolError("server hung up")), AdapterTransient, MSG_UNREACHABLE),
        (_raise(RuntimeError("Traceback: a bug in a transport")), AdapterUnavailable, MSG_FAILED),
        (
            lambda request: httpx.Response(200, content=b"x" * (3 << 20)),
            AdapterUnavailable,
            MSG_UNUSABLE,
        ),
        (
            lambda request: httpx.Response(
                200,
                json={
                    "protocol": PROTOCOL,
                    "image_png_b64": base64.b64encode(huge_png_header()).decode(),
                    "image_sha256": "0" * 64,
                },
            ),
            AdapterUnavailable,
            MSG_UNUSABLE,
        ),
        (
            lambda request: httpx.Response(302, headers={"location": "/x"}),
            AdapterUnavailable,
            MSG_REFUSED,
        ),
    ],
    ids=["connect", "reset", "connect-timeout", "hang-up", "foreign", "too-big", "sha", "redirect"],
)
def test_transport_failures_map_to_their_category(saree, placement, handler, expected, message):
    s_flat, _ = saree
    with pytest.raises(AdapterUnavailable) as caught:
        _mock(handler).run(s_flat, placement, 1, [], FORBIDDEN)
    assert type(caught.value) is expected
    _assert_user_safe(caught.value, message)


def test_an_unusable_address_is_a_configuration_error_not_a_retry(saree, placement):
    s_flat, _ = saree
    adapter = HttpImageAdapter("compose", _settings(remote_adapter_url="ftp://image-service"))
    with pytest.raises(AdapterUnavailable) as caught:
        adapter.run(s_flat, placement, 1, [], FORBIDDEN)
    assert type(caught.value) is AdapterUnavailable
    _assert_user_safe(caught.value, MSG_MISCONFIGURED)


def test_malformed_flatten_info_is_refused(s_clean):
    def handler(request: httpx.Request) -> httpx.Response:
        png = encode_png(np.zeros((100, 300, 3), np.uint8), compression=1)
        body = {
            "protocol": PROTOCOL,
            "image_png_b64": base64.b64encode(png).decode(),
            "info": {"confidence": 2.0, "notes": ["model says: " + "blah " * 200]},
        }
        return httpx.Response(200, json=body)

    adapter = HttpImageAdapter("flatten", _settings(), transport=httpx.MockTransport(handler))
    with pytest.raises(AdapterUnavailable) as caught:
        adapter.run(s_clean, None, 1, [], FORBIDDEN)
    _assert_user_safe(caught.value, MSG_MALFORMED)


def test_a_transient_failure_clears_on_the_next_call(saree, placement):
    s_flat, _ = saree
    adapter = _adapter("compose", Behaviour(fail_first=1))
    with pytest.raises(AdapterTransient):
        adapter.run(s_flat, placement, 1, [], FORBIDDEN)
    local = LocalComposeAdapter().run(s_flat, placement, 1, [], FORBIDDEN)
    assert np.array_equal(adapter.run(s_flat, placement, 1, [], FORBIDDEN).image, local.image)


def test_bad_inputs_fail_before_any_call(saree, placement):
    s_flat, _ = saree
    calls: list[httpx.Request] = []
    adapter = _mock(lambda request: calls.append(request) or httpx.Response(500))
    with pytest.raises(InvalidInput, match="placement map"):
        adapter.run(s_flat, None, 1, [], FORBIDDEN)
    with pytest.raises(InvalidInput, match="was built for"):
        adapter.run(s_flat[:, :-4], placement, 1, [], FORBIDDEN)
    geometry_only = PlacementMap.model_validate(placement.model_dump())
    with pytest.raises(InvalidInput, match="no arrays"):
        adapter.run(s_flat, geometry_only, 1, [], FORBIDDEN)
    assert calls == []


# ---------------------------------------------------------------- retry with constraints
def test_colour_cast_is_caught_by_validation_and_the_constrained_retry_passes(saree, placement):
    """The fake casts colours unless told 'white_balance' is forbidden, which only the
    colour_shift retry rule adds: validation must catch attempt 1, attempt 2 must pass."""
    s_flat, _ = saree
    thresholds = Settings().thresholds
    app = create_app(Behaviour(cast_unless_forbidden="white_balance"))
    adapter = HttpImageAdapter("compose", _settings(), transport=in_process_transport(app))

    first = adapter.run(s_flat, placement, 11, [], FORBIDDEN)
    report = validate_output(first.image, placement, s_flat, thresholds=thresholds)
    assert not report.passed and "color_shift" in report.failures

    instructions, forbidden = build_constraints(report.failures, report.reasons)
    assert "white_balance" in forbidden
    second = adapter.run(s_flat, placement, 12, instructions, forbidden)
    assert validate_output(second.image, placement, s_flat, thresholds=thresholds).passed
    local = LocalComposeAdapter().run(s_flat, placement, 12, instructions, forbidden)
    assert np.array_equal(second.image, local.image)
    assert np.array_equal(
        first.image,
        warm_cast(LocalComposeAdapter().run(s_flat, placement, 11, [], FORBIDDEN).image),
    )
    seen = app.state.log.seen
    assert [("white_balance" in call["forbidden_changes"]) for call in seen] == [False, True]
