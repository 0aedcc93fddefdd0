"""The one settings object: values derived from others follow them."""

from __future__ import annotations

from sareeflow.settings import Settings


def test_the_api_url_follows_the_stacks_api_port_unless_given(monkeypatch, tmp_path):
    """Moving `make run`'s API (SAREEFLOW_API_PORT) moves where the CLI calls and where
    Prefect artifacts link images; an explicit SAREEFLOW_API_URL still wins."""
    monkeypatch.delenv("SAREEFLOW_API_URL", raising=False)
    assert Settings(storage_root=tmp_path).api_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("SAREEFLOW_API_PORT", "8100")
    assert Settings(storage_root=tmp_path).api_url == "http://127.0.0.1:8100"
    monkeypatch.setenv("SAREEFLOW_API_URL", "http://shop.example:9000")
    assert Settings(storage_root=tmp_path).api_url == "http://shop.example:9000"
