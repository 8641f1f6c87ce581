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


@pytest.fixture(autouse=True)
def allow_private_webhooks(monkeypatch):
    """These tests deliver to a receiver on 127.0.0.1: allow private targets (tests/webhooks/test_targets.py
    checks the default refusal)."""
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "webhooks_allow_private", True)
