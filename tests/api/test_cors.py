"""CORS: off by default; with `cors_origins` set, those origins (and only those) may call the API from a
browser with a bearer token, and read the paging and location headers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from itsm_ai.config import get_settings
from tests.api.conftest import API

PORTAL = "https://portal.example.com"


@pytest.fixture
def cors_client(db, monkeypatch):
    monkeypatch.setenv("ITSM_CORS_ORIGINS", f'["{PORTAL}"]')
    get_settings.cache_clear()
    from itsm_ai.main import create_app

    try:
        with TestClient(create_app(start_worker=False)) as client:
            yield client
    finally:
        monkeypatch.delenv("ITSM_CORS_ORIGINS")
        get_settings.cache_clear()


def _preflight(client, origin: str):
    return client.options(
        f"{API}/incidents",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )


def test_no_cors_headers_by_default(client):
    r = client.get("/health", headers={"Origin": PORTAL})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    assert _preflight(client, PORTAL).status_code == 405


def test_a_configured_origin_may_call_the_api(cors_client):
    r = _preflight(cors_client, PORTAL)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == PORTAL
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "idempotency-key" in r.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in r.headers
    r = cors_client.get(f"{API}/sla/policies", headers={"Origin": PORTAL})
    assert r.status_code == 401  # the bearer token is still required
    assert r.headers["access-control-allow-origin"] == PORTAL
    assert "x-total-count" in r.headers["access-control-expose-headers"].lower()


def test_another_origin_gets_no_cors_headers(cors_client):
    r = _preflight(cors_client, "https://evil.example.net")
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    r = cors_client.get("/health", headers={"Origin": "https://evil.example.net"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
