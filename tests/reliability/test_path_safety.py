"""Issue 6, item 3: every path parameter and artifact URL is validated.

Traversal (plain, percent-encoded, double-encoded, overlong UTF-8, backslashes, NUL), encoded
separators, planted symlinks and unknown or malformed ids must never reach outside the storage
root nor return another saree's files. Requests go to the ASGI app with the raw path exactly as
a client sent it (``raw_path``) and the path uvicorn decodes from it (``path``), because an
HTTP client library would normalise the interesting ones away; a sample goes over a real socket.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import urllib.parse
from pathlib import Path

import anyio
import numpy as np
import pytest
from hostile import photo_bytes
from invariants import API, problem_violations

from sareeflow.errors import NotFound
from sareeflow.store import Store, append_line

CANARY_OUTSIDE = b"CANARY-OUTSIDE-THE-STORE-5f2c"
CANARY_OTHER = b"CANARY-OF-ANOTHER-SAREE-9b1e"

DOTS = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%c0%ae%c0%ae",
    "%uff0e%uff0e",
    "....",
]
SEPARATORS = ["/", "%2f", "%2F", "%252f", "\\", "%5c", "%c0%af", "%ef%bc%8f"]
TARGETS = [
    "etc/passwd",
    "saree.json",
    "manifest.jsonl",
    "jobs",
    "locks",
    "outside.txt",
    "{other}/original/upload.jpg",
    "sarees/{other}/generations/0001/secret.json",
]


def asgi_get(app, raw_path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``raw_path`` as uvicorn would deliver it: raw bytes kept, path percent-decoded."""
    raw, _, query = raw_path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": urllib.parse.unquote(raw),
        "raw_path": raw.encode("ascii"),
        "query_string": query.encode("ascii"),
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    sent: list[dict] = []
    delivered = False

    async def receive() -> dict:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


class _Response:
    """Just enough of an httpx.Response for :func:`problem_violations`."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code, self.headers, self.content = status, headers, body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        import json

        return json.loads(self.content)


@pytest.fixture
def two_sarees(app_client, store, storage_root, sample_photo):
    """Sarees A and B (different photos), A with a generation B lacks, and canaries: one file
    outside the storage root, one secret artifact listed in A's manifest only."""
    ids = []
    for data, ctype in ((sample_photo, "image/jpeg"), (_other_photo(), "image/png")):
        response = app_client.post(f"{API}/sarees", files={"file": ("p", data, ctype)})
        assert response.status_code == 201, response.text
        ids.append(response.json()["saree_id"])
    a, b = ids
    store.write_artifact(a, "generations/0001/secret.json", CANARY_OTHER, kind="pose_metrics")
    store.write_artifact(a, "generations/0001/poses/01/attempt-1/output.png", photo_bytes(
        np.random.default_rng(1), "PNG"), kind="pose_output", generation=1, pose="01", attempt=1)  # fmt: skip
    (storage_root.parent / "outside.txt").write_bytes(CANARY_OUTSIDE)
    return a, b


def _other_photo() -> bytes:
    return photo_bytes(np.random.default_rng(2), "PNG")


def _public(store: Store, saree_id: str) -> dict[str, bytes]:
    """relpath → bytes of every artifact the API may serve for this saree."""
    return {
        r.path: (store.saree_dir(saree_id) / r.path).read_bytes()
        for r in store.artifacts(saree_id)
        if r.kind not in ("adapter_input", "adapter_output")
    }


def _attacks(a: str, b: str) -> list[str]:
    """Raw URL paths that try to leave saree A's folder, or reach B from A's URLs."""
    tails = []
    for dots, sep, depth, target in itertools.product(DOTS, SEPARATORS, (1, 2, 4), TARGETS):
        tails.append((dots + sep) * depth + target.format(other=b))
    tails += [
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "original/upload.jpg%00.png",
        "original/upload.jpg%00",
        "original//upload.jpg",
        "original/./upload.jpg",
        "original/%2e/upload.jpg",
        "original/upload.jpg/",
        "original/upload.jpg;.png",
        "original/upload.jpg%3f.png",
        "original/upload.jpg%23",
        f"..%2f{b}%2foriginal%2fupload.jpg",
        "~/.ssh/id_rsa",
        "%7e%2f.ssh",
        "file:%2f%2f%2fetc%2fpasswd",
        "C:%5cwindows%5cwin.ini",
    ]
    prefixes = [f"{API}/sarees/{a}/artifacts/", f"{API}/sarees/{a}/artifacts/original/"]
    paths = [p + t for p in prefixes for t in tails]
    for t in tails[:: max(len(tails) // 60, 1)]:  # the same tricks in the id positions
        paths += [
            f"{API}/sarees/{t}",
            f"{API}/sarees/{t}/gallery",
            f"{API}/sarees/{t}/artifacts",
            f"{API}/sarees/{t}/artifacts/original/upload.jpg",
            f"{API}/jobs/{t}",
        ]
    return paths


def test_traversal_and_encoded_separators_never_leave_the_saree(app_client, store, two_sarees):
    a, b = two_sarees
    own = _public(store, a)
    others = set(_public(store, b).values())
    violations, served = [], 0
    attacks = _attacks(a, b)
    assert len(attacks) > 1500
    for raw in attacks:
        status, headers, body = asgi_get(app_client.app, raw)
        if CANARY_OUTSIDE in body or CANARY_OTHER in body and b in raw or b"root:" in body:
            violations.append(f"{raw}: canary or system file served")
        if status == 200:
            served += 1
            in_a = raw.startswith(f"{API}/sarees/{a}/artifacts/")
            if not in_a or body not in own.values() or body in others:
                violations.append(f"{raw}: 200 with bytes that are not this saree's own")
            continue
        found = problem_violations(_Response(status, headers, body), (400, 404, 405, 422))
        violations += [f"{raw}: {v}" for v in found]
    assert not violations, violations[:10]
    assert served < len(attacks) // 50  # only encoded spellings of real paths of A itself


def test_an_artifact_of_saree_a_asked_for_under_saree_b_is_404(app_client, store, two_sarees):
    a, b = two_sarees
    a_paths = {r.path for r in store.artifacts(a)}
    b_records = {r.path: r for r in store.artifacts(b)}
    for path in a_paths:
        response = app_client.get(f"{API}/sarees/{b}/artifacts/{path}")
        if path in b_records:  # both have an original: B's URL gives B's bytes, never A's
            assert response.status_code == 200
            assert hashlib.sha256(response.content).hexdigest() == b_records[path].sha256
            assert response.content != (store.saree_dir(a) / path).read_bytes()
        else:
            assert not problem_violations(response, (404,), "not_found"), path


def _list_in_manifest(store: Store, saree_id: str, relpath: str, data: bytes) -> None:
    """What an attacker able to write the store would do: list a path in B's manifest."""
    record = {"path": relpath, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    record |= {"kind": "pose_metrics", "created_at": "2026-01-01T00:00:00Z"}
    append_line(store.saree_dir(saree_id) / "manifest.jsonl", record)


def test_symlinks_planted_in_a_saree_folder_are_never_followed_out_of_it(
    app_client, store, storage_root, two_sarees
):
    a, b = two_sarees
    b_dir, a_dir = store.saree_dir(b), store.saree_dir(a)
    # 1. B's generations folder is a link to A's, and B's manifest lists A's secret path.
    os.symlink(a_dir / "generations", b_dir / "generations")
    _list_in_manifest(store, b, "generations/0001/secret.json", CANARY_OTHER)
    # 2. B's listed original replaced by a link to A's original.
    original = b_dir / "original" / "upload.png"
    original.unlink()
    os.symlink(a_dir / "original" / "upload.jpg", original)
    # 3. A listed file of B that links out of the store altogether.
    os.symlink(storage_root.parent / "outside.txt", b_dir / "original" / "notes.txt")
    _list_in_manifest(store, b, "original/notes.txt", CANARY_OUTSIDE)
    for relpath in ("generations/0001/secret.json", "original/upload.png", "original/notes.txt"):
        response = app_client.get(f"{API}/sarees/{b}/artifacts/{relpath}")
        assert not problem_violations(response, (404,), "not_found"), relpath
        assert CANARY_OTHER not in response.content and CANARY_OUTSIDE not in response.content
        with pytest.raises(NotFound):
            store.read_bytes(b, relpath)
    # The store refuses to write through the link, too: no generation of B lands in A.
    with pytest.raises(NotFound):
        store.new_generation(b)
    with pytest.raises(NotFound):
        store.write_artifact(b, "generations/0002/x.json", b"{}", kind="pose_metrics")
    assert sorted(p.name for p in (a_dir / "generations").iterdir()) == ["0001"]
    # Reads of B stay answers, not crashes.
    for url in (f"{API}/sarees/{b}", f"{API}/sarees/{b}/artifacts"):
        assert app_client.get(url).status_code == 200
    assert app_client.get(f"{API}/sarees/{b}/gallery").status_code in (200, 404)


def test_a_saree_folder_linked_under_another_id_is_not_that_saree(app_client, store, two_sarees):
    a, _ = two_sarees
    alias = "f" * 32
    os.symlink(store.saree_dir(a), store.saree_dir(alias))
    for url in (
        f"{API}/sarees/{alias}",
        f"{API}/sarees/{alias}/gallery",
        f"{API}/sarees/{alias}/artifacts",
        f"{API}/sarees/{alias}/artifacts/original/upload.jpg",
        f"{API}/sarees/{alias}/artifacts/generations/0001/secret.json",
    ):
        response = app_client.get(url)
        assert not problem_violations(response, (404,), "not_found"), url
    assert (
        app_client.post(f"{API}/sarees/{alias}/jobs", json={"mode": "standard"}).status_code == 404
    )


BAD_IDS = [
    "0" * 32,
    "f" * 32,
    "F" * 32,
    "0" * 31,
    "0" * 33,
    "g" * 32,
    "٠" * 32,  # Arabic-Indic zeros: digits to str.isdigit, not to us
    "0" * 31 + "\u0660",
    " " + "0" * 31,
    "0" * 32 + " ",
    "0" * 32 + "\n",
    "0" * 16 + "%00" + "0" * 15,
    "%30" * 32,
    "..",
    # "." is no id a client can send: dot-segment removal (RFC 3986 §5.2.4) turns
    # /sarees/. into /sarees/, the upload route, which rightly answers GET with 405.
    "-1",
    "null",
    "*",
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_unknown_and_malformed_ids_are_404_everywhere(app_client, two_sarees, bad_id):
    quoted = urllib.parse.quote(bad_id, safe="%")
    for method, url in (
        ("GET", f"{API}/sarees/{quoted}"),
        ("GET", f"{API}/sarees/{quoted}/gallery"),
        ("GET", f"{API}/sarees/{quoted}/artifacts"),
        ("GET", f"{API}/sarees/{quoted}/artifacts/original/upload.jpg"),
        ("POST", f"{API}/sarees/{quoted}/jobs"),
        ("GET", f"{API}/jobs/{quoted}"),
    ):
        response = app_client.request(method, url, json={"mode": "standard"})
        assert not problem_violations(response, (404,), "not_found"), (method, url)


def test_a_saree_id_is_not_a_job_id_and_back(app_client, two_sarees):
    a, _ = two_sarees
    job = app_client.post(f"{API}/sarees/{a}/jobs", json={"mode": "standard"})
    assert job.status_code in (202, 503)  # no Prefect here: the job may fail to launch
    job_id = job.json().get("job_id")
    assert not problem_violations(app_client.get(f"{API}/jobs/{a}"), (404,), "not_found")
    if job_id:
        assert not problem_violations(app_client.get(f"{API}/sarees/{job_id}"), (404,), "not_found")


def _raw_get(port: int, raw_path: str) -> tuple[int, bytes]:
    request = f"GET {raw_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


@pytest.mark.slow
def test_traversal_over_a_real_socket(reliability_stack, stack_client, sample_photo):
    stack, root = reliability_stack
    ids = []
    for data in (sample_photo, _other_photo()):
        response = stack_client.post("/sarees", files={"file": ("p", data, "image/jpeg")})
        ids.append(response.json()["saree_id"])
    a, b = ids
    Store(root).write_artifact(a, "generations/0001/secret.json", CANARY_OTHER, kind="x")
    (Path(root).parent / "outside.txt").write_bytes(CANARY_OUTSIDE)
    attacks = _attacks(a, b)[::15]
    bad = []
    for raw in attacks:
        status, data = _raw_get(stack.api_port, raw)
        if CANARY_OUTSIDE in data or (CANARY_OTHER in data and b in raw) or b"root:" in data:
            bad.append(raw)
        if status >= 500 or status == 0:
            bad.append(f"{raw} -> {status}")
    assert not bad, bad[:10]
    assert len(attacks) >= 100
