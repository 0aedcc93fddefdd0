"""POST /sarees, GET /sarees/{id}, GET /sarees/{id}/gallery."""

from __future__ import annotations

import hashlib

import anyio
import pytest

from api.middleware import MULTIPART_OVERHEAD_BYTES
from sareeflow.poses import load_catalogue

API = "/api/v1"
UPLOAD = f"{API}/sarees"


def _saree_folders(storage_root) -> list:
    base = storage_root / "sarees"
    return sorted(base.iterdir()) if base.exists() else []


def test_upload_returns_201_and_stores_the_photo_whole(client, store, storage_root, sample_bytes):
    response = client.post(UPLOAD, files={"file": ("my saree.jpg", sample_bytes, "image/jpeg")})
    assert response.status_code == 201, response.text
    body = response.json()
    saree_id = body["saree_id"]
    assert response.headers["location"] == f"{API}/sarees/{saree_id}"
    assert body["original_filename"] == "my saree.jpg" and body["original_format"] == "JPEG"
    assert body["jobs"] == [] and body["links"]["self"] == f"{API}/sarees/{saree_id}"
    assert store.require_saree(saree_id).original_size == tuple(body["original_size"])
    original = store.artifact(saree_id, store.require_saree(saree_id).original_path)
    assert original.sha256 == hashlib.sha256(sample_bytes).hexdigest()
    # the upload is downloadable, byte for byte, from the link the response gives
    download = client.get(body["links"]["original"])
    assert download.status_code == 200 and download.content == sample_bytes
    assert [p.name for p in _saree_folders(storage_root)] == [saree_id]


def test_read_saree_lists_its_jobs(client, saree_id):
    job = client.post(f"{API}/sarees/{saree_id}/jobs", json={"mode": "standard"}).json()
    body = client.get(f"{API}/sarees/{saree_id}").json()
    assert [(j["job_id"], j["mode"], j["status"]) for j in body["jobs"]] == [
        (job["job_id"], "standard", "queued")
    ]
    assert body["jobs"][0]["url"] == f"{API}/jobs/{job['job_id']}"


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("notes.txt", b"hello, this is not a photo", "text/plain"),
        ("fake.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 200, "image/jpeg"),  # a JPEG header, no image
        ("empty.png", b"", "image/png"),
    ],
)
def test_non_image_upload_is_422_and_stores_nothing(
    client, storage_root, check_problem, name, data, content_type
):
    response = client.post(UPLOAD, files={"file": (name, data, content_type)})
    body = check_problem(response, 422, "invalid_input")
    assert "photo" in body["detail"].lower() or "file" in body["detail"].lower()
    assert _saree_folders(storage_root) == []


def test_missing_file_field_is_422_naming_the_field(client, storage_root, check_problem):
    response = client.post(UPLOAD, data={"photo": "x"})
    body = check_problem(response, 422, "invalid_input")
    assert "file" in body["detail"]
    check_problem(client.post(UPLOAD, json={"file": "abc"}), 422, "invalid_input")
    assert _saree_folders(storage_root) == []


def test_body_declared_over_the_cap_is_413_before_reading(make_client, storage_root, check_problem):
    client = make_client(max_upload_bytes=50_000)
    big = b"\xff\xd8" + bytes(200_000)  # over cap + multipart allowance
    response = client.post(UPLOAD, files={"file": ("big.jpg", big, "image/jpeg")})
    body = check_problem(response, 413, "invalid_input")
    assert "larger than" in body["detail"]
    assert _saree_folders(storage_root) == []


def test_file_just_over_the_cap_is_413(make_client, storage_root, check_problem):
    client = make_client(max_upload_bytes=50_000)
    response = client.post(UPLOAD, files={"file": ("big.jpg", bytes(50_001), "image/jpeg")})
    check_problem(response, 413, "invalid_input")
    assert _saree_folders(storage_root) == []


def test_file_at_the_cap_is_not_rejected_for_size(make_client, check_problem):
    client = make_client(max_upload_bytes=50_000)
    response = client.post(UPLOAD, files={"file": ("junk.bin", bytes(50_000), "image/jpeg")})
    check_problem(response, 422, "invalid_input")  # read whole, then refused as not a photo


def test_chunked_body_without_length_is_cut_off_at_the_cap(
    make_client, storage_root, check_problem
):
    client = make_client(max_upload_bytes=50_000)
    boundary = "sareeflowtestboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def chunks():  # a generator body: sent chunked, with no Content-Length
        yield head
        for _ in range(40):
            yield bytes(10_000)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    response = client.post(UPLOAD, content=chunks(), headers=headers)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    check_problem(response, 413, "invalid_input")
    assert _saree_folders(storage_root) == []


def _post_endless_upload(app, extra_headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """POST an endless multipart stream to the app as raw ASGI, the way a server delivers a
    chunked body; returns (response status, how many body chunks the app read)."""
    boundary = "sareeflowtestboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    reads, sent = 0, []

    async def receive() -> dict:
        nonlocal reads
        reads += 1
        if reads > 1_000:  # 10 MB: far past any cap; a server would see the client give up
            return {"type": "http.disconnect"}
        body = head if reads == 1 else bytes(STREAM_CHUNK_BYTES)
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    content_type = f"multipart/form-data; boundary={boundary}".encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": UPLOAD,
        "raw_path": UPLOAD.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", content_type), *extra_headers],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    anyio.run(app, scope, receive, send)
    return sent[0]["status"], reads


STREAM_CHUNK_BYTES = 10_000


def test_endless_upload_stream_is_abandoned_soon_after_the_cap(make_client):
    app = make_client(max_upload_bytes=50_000).app
    status, reads = _post_endless_upload(app, [(b"transfer-encoding", b"chunked")])
    assert status == 413
    assert reads <= (50_000 + MULTIPART_OVERHEAD_BYTES) // STREAM_CHUNK_BYTES + 2


def test_declared_oversize_body_is_refused_without_reading_it(make_client):
    app = make_client(max_upload_bytes=50_000).app
    status, reads = _post_endless_upload(app, [(b"content-length", b"1000000000")])
    assert (status, reads) == (413, 0)


@pytest.mark.parametrize("bad_id", ["0" * 32, "not-an-id", "A" * 32, "0" * 31, "..", "%2e%2e"])
def test_unknown_or_malformed_saree_is_404_alike(client, check_problem, bad_id):
    for url in (f"{API}/sarees/{bad_id}", f"{API}/sarees/{bad_id}/gallery"):
        body = check_problem(client.get(url), 404, "not_found")
        assert bad_id not in body["detail"]


def test_gallery_of_a_new_saree_offers_only_standard(client, saree_id):
    body = client.get(f"{API}/sarees/{saree_id}/gallery").json()
    catalogue = load_catalogue().poses
    assert [p["pose"] for p in body["poses"]] == list(catalogue)
    assert [p["label"] for p in body["poses"]] == [spec.label for spec in catalogue.values()]
    assert {p["status"] for p in body["poses"]} == {"not_started"}
    assert all(p["label"] and p["image_url"] is None for p in body["poses"])
    assert body["actions"] == {"standard": True, "extend": False, "retry_failed": False}
    assert body["active_job_id"] is None


def test_gallery_while_a_job_is_queued_shows_it_and_allows_nothing(client, saree_id):
    job = client.post(f"{API}/sarees/{saree_id}/jobs", json={"mode": "standard"}).json()
    body = client.get(f"{API}/sarees/{saree_id}/gallery").json()
    assert body["active_job_id"] == job["job_id"]
    assert body["actions"] == {"standard": False, "extend": False, "retry_failed": False}


def test_gallery_after_a_job_gives_urls_checks_and_actions(
    client, saree_id, finished_standard, check_no_leak
):
    response = client.get(f"{API}/sarees/{saree_id}/gallery")
    body = response.json()
    check_no_leak(response.text)
    poses = {p["pose"]: p for p in body["poses"]}
    assert [poses[p]["status"] for p in ("01", "02", "03", "04", "05")] == [
        "passed",
        "passed",
        "failed",
        "passed",
        "not_started",
    ]
    for pose in ("01", "02", "04"):
        url = poses[pose]["image_url"]
        assert url.startswith(f"{API}/sarees/{saree_id}/artifacts/generations/")
        image = client.get(url)
        assert image.headers["content-type"] == "image/png"
        assert hashlib.sha256(image.content).hexdigest() == poses[pose]["image_sha256"]
        assert poses[pose]["generation"] == 1
    assert poses["03"]["image_url"] is None
    assert poses["03"]["reasons"] and poses["03"]["regions"][0]["pass"] is False
    assert poses["01"]["regions"][0] == {
        "region": "border_bottom",
        "pass": True,
        "ssim": 0.93,
        "delta_e": 1.2,
        "pattern_score": 0.9,
        "reasons": [],
    }
    assert body["actions"] == {"standard": True, "extend": True, "retry_failed": True}
    assert not {"output", "attempt_dir", "image"} & set(poses["01"])  # URLs, never file paths
