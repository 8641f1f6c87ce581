"""Test helpers shared by the automation and webhook tests: fast sign-in, an API factory, a real receiver."""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from itsm_ai import database
from itsm_ai.webhooks.flows import verify
from tests.conftest import clean_database

API = "/api/v1"


empty_database = clean_database  # one clean-up for every test package (tests/conftest.py)


def sign_in_everyone() -> dict:
    """admin, agent, requester and data_scientist with tokens signed directly (login is tested elsewhere)."""
    from itsm_ai.auth import service, tokens
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role
    from tests.conftest import PASSWORD, Actor

    roles = {
        "admin": Role.admin,
        "agent": Role.agent,
        "requester": Role.requester,
        "data_scientist": Role.data_scientist,
    }
    actors = {}
    with database.get_session() as session:
        for name, role in roles.items():
            user = service.create(
                db_session=session,
                user_in=UserCreate(username=name, role=role, password=PASSWORD),
                actor=None,
            )
            token, _ = tokens.create_access_token(user)
            actors[name] = Actor(name, str(role), {"Authorization": f"Bearer {token}"})
    return actors


class Api:
    """Calls the API as a role and asserts the expected status."""

    def __init__(self, client, users):
        self.client = client
        self.users = users
        self._seq = itertools.count(1)

    def call(self, method: str, path: str, as_: str = "admin", expect: int = 200, **kw) -> Any:
        r = self.client.request(method, f"{API}/{path}", headers=self.users[as_].headers, **kw)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def get(self, path: str, as_: str = "admin", expect: int = 200, **kw) -> Any:
        return self.call("GET", path, as_, expect, **kw)

    def post(self, path: str, body: dict, as_: str = "admin", expect: int = 201) -> Any:
        return self.call("POST", path, as_, expect, json=body)

    def patch(self, path: str, body: dict, as_: str = "admin", expect: int = 200) -> Any:
        version = self.get(path)["version"]
        return self.call("PATCH", path, as_, expect, json={"version": version, **body})

    def incident(self, **fields) -> dict:
        return self.post("incidents", {"short_description": "Email is down", **fields}, as_="agent")

    def group(self, name: str) -> dict:
        return self.post("groups", {"name": name})

    def rule(self, **fields) -> dict:
        body = {"name": f"rule-{next(self._seq)}", "record_type": "incident", "trigger": "created", **fields}
        return self.post("rules", body)


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP receiver on 127.0.0.1: records requests, answers `status`, dedupes by event id."""

    secret: str | None = None
    status: int = 200
    port: int = 0
    received: list[Received] = field(default_factory=list)
    accepted: dict[str, Received] = field(default_factory=dict)
    bad_signatures: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                item = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                receiver.handle(item)
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status < 300 else b"boom")

            do_PUT = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def handle(self, item: Received) -> None:
        self.received.append(item)
        if self.secret is not None:
            h = item.headers
            if not verify(self.secret, h["x-itsm-timestamp"], item.body, h.get("x-itsm-signature", "")):
                self.bad_signatures += 1
                return
        if self.status < 300:
            # Dedupe by event id: a redelivered event is acknowledged but not processed again.
            self.accepted.setdefault(item.headers["x-itsm-event-id"], item)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
