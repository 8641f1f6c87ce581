"""Attachment fixtures: an own storage folder per test, the API helpers."""

from __future__ import annotations

import pytest

from tests.api.conftest import Factory, app, client  # noqa: F401


@pytest.fixture(autouse=True)
def storage_dir(monkeypatch, tmp_path):
    from itsm_ai.config import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "attachment_dir", tmp_path / "attachments")
    monkeypatch.setattr(settings, "knowledge_warm_on_startup", False)
    monkeypatch.setattr(settings, "knowledge_encoder", "hash")
    monkeypatch.setattr(settings, "knowledge_index_dir", tmp_path / "index")
    return tmp_path / "attachments"


@pytest.fixture
def factory(client, users):  # noqa: F811 - the client fixture imported above
    return Factory(client, users)
