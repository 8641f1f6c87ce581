"""ServiceNow API helpers: a local CA and certificate (trustme), the app under uvicorn over HTTPS (pysnc only
talks https), pysnc clients per user, and basic-auth headers for raw HTTP calls."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import make_app
from tests.conftest import PASSWORD


def basic(username: str, password: str = PASSWORD) -> dict[str, str]:
    """The Authorization header of basic auth."""
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture(scope="session")
def tls(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(CA bundle, server certificate, server key) of a throw-away CA for 127.0.0.1."""
    import trustme

    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        with cert_file.open("ab") as handle:
            handle.write(extra.bytes())
    return ca_file, cert_file, key_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(db):
    return make_app()


@pytest.fixture
def client(app) -> Iterator:
    """In-process client whose unhandled server errors come back as 500 responses to assert on."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def instance(app, users, tls) -> Iterator[str]:
    """The app served by uvicorn over HTTPS in a thread; yields its base URL (the "instance")."""
    import uvicorn

    _ca, cert_file, key_file = tls
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=_free_port(),
        log_level="warning",
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
        lifespan="off",
        timeout_graceful_shutdown=1,  # pysnc keeps its connections open
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"https://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=15)


@pytest.fixture
def snc(instance, tls, monkeypatch):
    """pysnc client factory: snc("agent") logs in with basic auth and trusts the test CA."""
    import pysnc

    # requests prefers these variables over a session's `verify`: point them at the test CA too.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, str(tls[0]))

    def make(username: str, password: str = PASSWORD):
        return pysnc.ServiceNowClient(instance, (username, password), verify=str(tls[0]))

    return make


def assert_sn_error(response, status: int, mentions: str | None = None) -> dict:
    """ServiceNow's error shape: {"error": {"message", "detail"}, "status": "failure"}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "failure"
    assert set(body["error"]) == {"message", "detail"}
    assert body["error"]["message"]
    if mentions:
        assert mentions in body["error"]["message"] + body["error"]["detail"], body
    return body


@pytest.fixture
def seeded(client, users):
    """A group, three incidents (two for requester, one for requester2) written over the Table API."""
    from itsm_ai import database
    from itsm_ai.group.models import Group

    with database.get_session() as session:
        session.add(Group(name="Network"))
    made = {}
    for title, caller, impact in (
        ("vpn down", "requester", 1),
        ("printer jam", "requester", 3),
        ("mail", "requester2", 2),
    ):
        r = client.post(
            "/api/now/table/incident",
            json={
                "short_description": title,
                "caller_id": caller,
                "impact": impact,
                "urgency": "2",
                "assignment_group": "Network",
                "no_such_field": "ignored",
            },
            headers=basic("agent"),
        )
        assert r.status_code == 201, r.text
        made[title] = r.json()["result"]
    return made
