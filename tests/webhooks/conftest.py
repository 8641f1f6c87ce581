"""Fixtures: tests run the background jobs themselves with an injected clock."""

from __future__ import annotations

import pytest

from tests.webhooks.helpers import Api, sign_in_everyone


@pytest.fixture
def users(client) -> dict:
    return sign_in_everyone()


@pytest.fixture
def api(client, users) -> Api:
    return Api(client, users)
