"""UI test helpers: log a browser-like client in through the login form, build records over the API, and run
the real app under uvicorn for the browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.api.conftest import Factory
from tests.conftest import PASSWORD


def login(client, username: str, password: str = PASSWORD, **form):
    """Log in through the HTML form (the client keeps the session cookie); returns the response."""
    client.cookies.clear()
    return client.post(
        "/login", data={"username": username, "password": password, **form}, follow_redirects=False
    )


@pytest.fixture
def make(client, users) -> Factory:
    """Record factories over the API (bearer tokens)."""
    return Factory(client, users)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app) -> Iterator[str]:
    """Serve the app with uvicorn in a thread on a free port; yields its base URL and stops it after."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def queue_worker(interval: float = 0.2) -> Iterator[None]:
    """Run queued tasks (training jobs) in a thread, as a worker would, for a server started without one."""
    from itsm_ai import taskqueue

    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            if not taskqueue.run_pending(limit=1):
                stop.wait(interval)

    thread = threading.Thread(target=loop, name="test-queue-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
