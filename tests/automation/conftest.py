"""Fixtures: the app without its in-process worker (tests run the jobs themselves with an injected clock)."""

from __future__ import annotations

import pytest

from tests.webhooks.helpers import Api, empty_database, sign_in_everyone


@pytest.fixture
def db(engine):
    empty_database(engine)
    yield engine


@pytest.fixture
def app(db):
    from itsm_ai.main import create_app

    return create_app(start_worker=False)


@pytest.fixture
def users(client) -> dict:
    return sign_in_everyone()


@pytest.fixture
def api(client, users) -> Api:
    return Api(client, users)
