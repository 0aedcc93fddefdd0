"""GET /sarees/{id}/artifacts and the artifact bytes behind the URLs it lists."""

from __future__ import annotations

import hashlib
import os

import pytest

from sareeflow.store import append_line

API = "/api/v1"
PRIVATE = {"adapter_input", "adapter_output"}


def _artifacts(client, saree_id: str) -> list[dict]:
    response = client.get(f"{API}/sarees/{saree_id}/artifacts")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["artifacts"])
    return body["artifacts"]


def test_listing_has_every_public_manifest_entry_and_no_prompts(
    client, store, saree_id, finished_standard
):
    response = client.get(f"{API}/sarees/{saree_id}/artifacts")
    listed = response.json()["artifacts"]
    manifest = [r for r in store.artifacts(saree_id) if r.kind not in PRIVATE]
    assert [a["sha256"] for a in listed] == [r.sha256 for r in manifest]
    assert {a["kind"] for a in listed} >= {
        "original",
        "normalized",
        "pose_output",
        "pose_metrics",
        "placement",
    }
    assert not PRIVATE & {a["kind"] for a in listed}
    assert "SECRET" not in response.text and "adapter_" not in response.text
    outputs = [a for a in listed if a["kind"] == "pose_output"]
    assert [(a["pose"], a["generation"], a["attempt"]) for a in outputs] == [
        ("01", 1, 1),
        ("02", 1, 1),
        ("03", 1, 1),
        ("04", 1, 1),
    ]
    assert outputs[0]["label"] and all(a["label"] is None for a in listed if a["pose"] is None)


def test_every_listed_url_serves_bytes_matching_sha256_size_and_type(
    client, saree_id, finished_standard
):
    types = {}
    for artifact in _artifacts(client, saree_id):
        response = client.get(artifact["url"])
        assert response.status_code == 200, artifact["url"]
        assert hashlib.sha256(response.content).hexdigest() == artifact["sha256"]
        assert len(response.content) == artifact["size"]
        assert response.headers["etag"] == f'"{artifact["sha256"]}"'
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        types[artifact["url"].rsplit(".", 1)[-1]] = response.headers["content-type"].split(";")[0]
    assert types == {
        "jpg": "image/jpeg",
        "png": "image/png",
        "json": "application/json",
        "npz": "application/octet-stream",
    }


def test_if_none_match_gives_304_without_body(client, saree_id):
    original = next(a for a in _artifacts(client, saree_id) if a["kind"] == "original")
    etag = f'"{original["sha256"]}"'
    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        response = client.get(original["url"], headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b"" and response.headers["etag"] == etag
    assert client.get(original["url"], headers={"If-None-Match": '"other"'}).status_code == 200


def test_prompt_carrying_artifacts_are_not_served(
    client, store, saree_id, finished_standard, check_problem
):
    private = [r for r in store.artifacts(saree_id) if r.kind in PRIVATE]
    assert len(private) == 8 and all(store.resolve(saree_id, r.path).is_file() for r in private)
    for record in private:
        check_problem(
            client.get(f"{API}/sarees/{saree_id}/artifacts/{record.path}"), 404, "not_found"
        )


def test_unlisted_files_are_not_served(client, store, saree_id, check_problem):
    folder = store.saree_dir(saree_id)
    (folder / "generations").mkdir(exist_ok=True)
    (folder / "generations" / "stray.png").write_bytes(b"not in the manifest")
    for relpath in (
        "saree.json",
        "manifest.jsonl",
        "generations/stray.png",
        "original",
        "nothing.png",
        "",
    ):
        check_problem(client.get(f"{API}/sarees/{saree_id}/artifacts/{relpath}"), 404, "not_found")


@pytest.mark.parametrize(
    "attack",
    [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "..%2fsaree.json",
        "original%2F..%2F..%2F..%2Fjobs",
        "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "original/..%5C..%5Csaree.json",
        "original/upload.jpg%00.png",
        "original//upload.jpg",
    ],
)
def test_traversal_attempts_are_404(client, store, saree_id, check_problem, attack):
    store.resolve(saree_id, "original/upload.jpg")  # the real file exists
    response = client.get(f"{API}/sarees/{saree_id}/artifacts/{attack}")
    check_problem(response, 404, "not_found")
    assert "root:" not in response.text


def test_listed_symlink_out_of_the_store_is_404(client, store, saree_id, tmp_path, check_problem):
    outside = tmp_path / "outside.json"
    outside.write_bytes(b'{"secret": true}')
    link = store.saree_dir(saree_id) / "generations" / "evil.json"
    link.parent.mkdir(exist_ok=True)
    os.symlink(outside, link)
    record = {
        "path": "generations/evil.json",
        "sha256": "0" * 64,
        "size": 16,
        "kind": "pose_metrics",
    }
    append_line(
        store.saree_dir(saree_id) / "manifest.jsonl",
        record | {"created_at": "2026-01-01T00:00:00Z"},
    )
    assert any(a["url"].endswith("evil.json") for a in _artifacts(client, saree_id))  # listed...
    response = client.get(f"{API}/sarees/{saree_id}/artifacts/generations/evil.json")
    check_problem(response, 404, "not_found")  # ...but never followed out of the store


@pytest.mark.parametrize("bad_id", ["a" * 32, "zzz", "A" * 32])
def test_artifacts_of_unknown_or_malformed_saree_are_404(client, saree_id, check_problem, bad_id):
    check_problem(client.get(f"{API}/sarees/{bad_id}/artifacts"), 404, "not_found")
    check_problem(
        client.get(f"{API}/sarees/{bad_id}/artifacts/original/upload.jpg"), 404, "not_found"
    )
