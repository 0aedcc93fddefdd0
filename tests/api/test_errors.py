"""One mapping from errors to problem+json (RFC 9457), health, and the OpenAPI contract."""

from __future__ import annotations

import pytest

from api.errors import UploadTooLarge
from sareeflow.errors import (
    AdapterTransient,
    AdapterUnavailable,
    ArtifactExists,
    Conflict,
    Crashed,
    InternalError,
    InvalidInput,
    NotFound,
    OrchestratorUnavailable,
    StorageError,
    ValidationFailed,
)

API = "/api/v1"

MAPPING = [
    (InvalidInput, 422, "invalid_input"),
    (UploadTooLarge, 413, "invalid_input"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (ValidationFailed, 422, "validation_failed"),
    (AdapterUnavailable, 503, "adapter_unavailable"),
    (AdapterTransient, 503, "adapter_unavailable"),
    (OrchestratorUnavailable, 503, "orchestrator_unavailable"),
    (StorageError, 507, "storage"),
    (ArtifactExists, 507, "storage"),
    (Crashed, 500, "crashed"),
    (InternalError, 500, "internal"),
]


@pytest.fixture
def raising_client(make_client):
    """A client whose app has one extra route raising whatever the test sets."""
    client = make_client()
    box: dict[str, BaseException] = {}

    @client.app.get("/boom")
    def boom() -> None:
        raise box["error"]

    client.box = box
    return client


@pytest.mark.parametrize(("error_class", "status", "category"), MAPPING)
def test_every_category_maps_to_its_status_and_problem_body(
    raising_client, check_problem, error_class, status, category
):
    raising_client.box["error"] = error_class(
        "A short user-safe message.", detail="/srv/data/x.png errno 28"
    )
    body = check_problem(raising_client.get("/boom"), status, category)
    assert body["detail"] == "A short user-safe message."
    assert "errno" not in str(body) and "/srv" not in str(body)


def test_unexpected_exception_is_500_internal_with_a_generic_message(
    raising_client, check_problem, caplog
):
    raising_client.box["error"] = KeyError("/srv/secret/config.yaml missing key 'api_token'")
    body = check_problem(raising_client.get("/boom"), 500, "internal")
    assert body["detail"] == "An internal error occurred; it has been logged."
    assert "secret" not in str(body) and "api_token" not in str(body)
    assert "api_token" in caplog.text  # the operator gets the detail, in the server log


def test_unknown_route_and_wrong_method_are_problems(client, check_problem):
    check_problem(client.get(f"{API}/nothing-here"), 404, "not_found")
    body = check_problem(client.delete(f"{API}/sarees"), 405, "invalid_input")
    assert "Method Not Allowed" in body["detail"]


def test_validation_errors_never_echo_input_or_pydantic_internals(client, saree_id, check_problem):
    evil = "../../etc/passwd<script>"
    response = client.post(f"{API}/sarees/{saree_id}/jobs", json={"mode": evil, evil: 1})
    body = check_problem(response, 422, "invalid_input")
    assert evil not in response.text and "passwd" not in response.text
    assert "https://errors" not in response.text and "loc" not in body


def test_sweep_of_error_responses_leaks_no_paths_or_traces(
    client, storage_root, saree_id, check_no_leak
):
    responses = [
        client.get(f"{API}/sarees/{'0' * 32}"),
        client.get(f"{API}/jobs/{'0' * 32}"),
        client.get(f"{API}/sarees/{saree_id}/artifacts/..%2F..%2Fsaree.json"),
        client.post(f"{API}/sarees", files={"file": ("x.txt", b"plain text", "text/plain")}),
        client.post(f"{API}/sarees/{saree_id}/jobs", json={"mode": "extend"}),
        client.post(
            f"{API}/sarees/{saree_id}/jobs",
            content=b"{",
            headers={"content-type": "application/json"},
        ),
    ]
    for response in responses:
        assert response.status_code >= 400
        assert response.headers["content-type"] == "application/problem+json"
        check_no_leak(response.text)
        assert str(storage_root) not in response.text


def test_health_reports_ok_and_writable_at_both_addresses(client):
    for url in ("/healthz", f"{API}/healthz"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "storage_writable": True}


def test_health_is_degraded_when_the_store_cannot_be_written(make_client, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    client = make_client(storage_root=blocker / "storage_root")  # a root under a regular file
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "storage_writable": False}


def test_openapi_documents_every_endpoint_with_summaries_and_errors(client):
    spec = client.get("/openapi.json").json()
    expected = {
        ("post", f"{API}/sarees"): {"201", "413", "422"},
        ("get", f"{API}/sarees/{{saree_id}}"): {"200", "404"},
        ("post", f"{API}/sarees/{{saree_id}}/jobs"): {"202", "404", "409", "422", "503"},
        ("get", f"{API}/jobs/{{job_id}}"): {"200", "404"},
        ("get", f"{API}/sarees/{{saree_id}}/gallery"): {"200", "404"},
        ("get", f"{API}/sarees/{{saree_id}}/artifacts"): {"200", "404"},
        ("get", f"{API}/sarees/{{saree_id}}/artifacts/{{path}}"): {"200", "304", "404"},
        ("get", f"{API}/healthz"): {"200", "503"},
    }
    for (method, path), statuses in expected.items():
        operation = spec["paths"][path][method]
        assert statuses <= set(operation["responses"]), (method, path)
        assert operation["description"] and "\n" not in operation["description"].strip()
    problem = spec["paths"][f"{API}/sarees/{{saree_id}}/jobs"]["post"]["responses"]["409"]
    assert "application/problem+json" in problem["content"]
    assert client.get("/docs").status_code == 200
