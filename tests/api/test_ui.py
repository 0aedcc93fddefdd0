"""The gallery page and its assets are served, stay out of the OpenAPI schema, and the page
talks to nothing but the public API."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"


def test_root_serves_the_page_and_its_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/app.js", "/static/style.css"]
    for asset, media in zip(sorted(assets), ("javascript", "text/css"), strict=True):
        response = client.get(asset)
        assert response.status_code == 200 and media in response.headers["content-type"]
        assert response.headers["etag"] and response.headers["cache-control"] == "no-cache"


def test_the_page_is_not_part_of_the_api_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(path.startswith("/static") for path in paths)
    assert "/api/v1/sarees" in paths and client.get("/docs").status_code == 200


def test_unknown_assets_are_404_without_leaking_paths(client, check_no_leak):
    for path in ("/static/nope.js", "/static/../main.py", "/static/%2e%2e/main.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        check_no_leak(response.text)


def test_the_script_uses_only_the_public_api():
    script = (STATIC / "app.js").read_text()
    assert 'const API = "/api/v1";' in script
    assert script.count("fetch(") == 1, "one request helper, prefixing relative paths with API"
    assert not re.search(r"https?://", script), "no other server, no hard-coded host"
    assert "innerHTML" not in script, "API text goes into the page as text, never as HTML"
