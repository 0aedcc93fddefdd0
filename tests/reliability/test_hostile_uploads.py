"""Issue 6, item 1: over a thousand hostile uploads through the real API.

Each must come back as a categorised 4xx problem (``invalid_input``) with nothing stored and
nothing leaked; photos that only carry hostile extras may be accepted, and then are stored
whole. The full corpus goes through FastAPI's TestClient (the same ASGI app uvicorn serves);
a sample, plus the tricks only a raw socket can play, goes through the real uvicorn stack.
"""

from __future__ import annotations

import collections
import hashlib
import socket
import time

import httpx
import pytest
from hostile import (
    FAMILIES,
    UPLOAD_CAP_BYTES,
    HostileRequest,
    hostile_corpus,
    sample,
    tolerated_corpus,
)
from invariants import API, leak_violations, manifest_violations, problem_violations

from sareeflow.store import Store

MIN_CASES = 1000
MIN_PER_FAMILY = 10
UVICORN_SAMPLE = 100
UPLOAD = f"{API}/sarees"


@pytest.fixture(scope="module")
def corpus() -> list[HostileRequest]:
    return hostile_corpus(max_upload_bytes=UPLOAD_CAP_BYTES)


def _post(client, case: HostileRequest):
    content = case.chunks() if case.chunked else case.body
    return client.post(UPLOAD, content=content, headers=case.headers())


def _stored_files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_corpus_is_large_varied_and_deterministic(corpus):
    families = collections.Counter(case.family for case in corpus)
    assert len(corpus) >= MIN_CASES, families
    assert set(families) == {*FAMILIES, "oversized"}
    assert min(families.values()) >= MIN_PER_FAMILY, families
    again = hostile_corpus(max_upload_bytes=UPLOAD_CAP_BYTES)
    digest = lambda cases: hashlib.sha256(b"".join(c.body for c in cases)).hexdigest()  # noqa: E731
    assert digest(again) == digest(corpus)


def test_every_hostile_upload_is_a_categorised_4xx_and_stores_nothing(
    app_client, storage_root, corpus
):
    violations, statuses = [], collections.Counter()
    for case in corpus:
        response = _post(app_client, case)
        statuses[response.status_code] += 1
        found = problem_violations(response, case.expect, "invalid_input", (str(storage_root),))
        violations += [f"{case.name}: {v}" for v in found]
    assert not violations, f"{len(violations)} violations, e.g. {violations[:15]}"
    assert set(statuses) <= {400, 413, 422}, statuses
    assert _stored_files(storage_root) == []  # not even a temporary file or an empty manifest


def test_hostile_extras_on_real_photos_are_accepted_whole_or_refused(app_client, store):
    outcomes = collections.Counter()
    for case in tolerated_corpus():
        response = _post(app_client, case)
        outcomes[response.status_code] += 1
        assert response.status_code in case.expect, (case.name, response.text[:200])
        assert not leak_violations(response.text, ("\u202e",)), case.name
        if response.status_code != 201:
            continue
        saree = response.json()
        name = saree["original_filename"]
        assert not set(name) & set("/\\\r\n<>\u202e") and len(name) <= 120, name
        assert not manifest_violations(store, saree["saree_id"])
        original = app_client.get(saree["links"]["original"])
        assert original.status_code == 200
        assert original.content == case.payload  # the bytes as uploaded, nothing appended/cut
        assert original.headers["content-type"].split(";")[0] in {
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/tiff",
        }  # by the detected format, never the client's name or type
        assert original.headers["x-content-type-options"] == "nosniff"
    assert outcomes[201] > 0


def _raw_http(port: int, request: bytes, *, read_timeout_s: float = 10) -> bytes:
    """Send raw bytes to the server and return what it answers before closing (or timing out)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout_s) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and len(b"".join(chunks)) > 200:
                    break
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.slow
def test_hostile_sample_through_uvicorn_stores_nothing(reliability_stack, corpus):
    stack, root = reliability_stack
    before = set(Store(root).list_sarees())
    violations = []
    cases = sample(corpus, UVICORN_SAMPLE)
    assert len(cases) == UVICORN_SAMPLE
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        for case in cases:
            try:
                response = _post(client, case)
            except httpx.HTTPError as exc:
                # uvicorn may answer 413 and close while a chunked body is still being sent
                violations += [] if case.family == "oversized" else [f"{case.name}: {exc!r}"]
                continue
            found = problem_violations(response, case.expect, "invalid_input", (str(root),))
            violations += [f"{case.name}: {v}" for v in found]
        port = stack.api_port
        lying = (
            f"POST {UPLOAD} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            f"boundary=b\r\nContent-Length: {10**12}\r\n\r\n"
        ).encode()
        started = time.monotonic()
        answer = _raw_http(port, lying)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert time.monotonic() - started < 5  # refused on the header, not after reading
        assert b"application/problem+json" in answer
        # A body shorter than declared, then the client vanishes: nothing to answer, no harm.
        short = lying.replace(str(10**12).encode(), b"5000") + b"--b\r\n"
        _raw_http(port, short, read_timeout_s=1)
        garbage = _raw_http(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64))
        assert not garbage or garbage.startswith(b"HTTP/1.1 400"), garbage[:100]
        assert client.get(f"{API}/healthz").status_code == 200  # the server is still fine
    assert not violations, violations[:15]
    assert set(Store(root).list_sarees()) == before
