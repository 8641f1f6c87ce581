"""UI test helpers: log a browser-like client in through the login form, and build records over the API."""

from __future__ import annotations

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
