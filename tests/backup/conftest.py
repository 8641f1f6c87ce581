"""Backup fixtures: own attachment, model and index folders per test, and the store helpers."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(autouse=True)
def folders(monkeypatch, tmp_path):
    """Point attachments, models and index at folders of this test (the session's are shared)."""
    from itsm_ai.config import get_settings

    settings = get_settings()
    paths = {
        "attachments": tmp_path / "store" / "attachments",
        "models": tmp_path / "store" / "models",
        "index": tmp_path / "store" / "index",
    }
    monkeypatch.setattr(settings, "attachment_dir", paths["attachments"])
    monkeypatch.setattr(settings, "models_dir", paths["models"])
    monkeypatch.setattr(settings, "knowledge_index_dir", paths["index"])
    monkeypatch.setattr(settings, "knowledge_warm_on_startup", False)
    monkeypatch.setattr(settings, "knowledge_encoder", "hash")
    return paths


@pytest.fixture
def needs_pg_tools(db):
    """Skip on PostgreSQL when pg_dump, pg_restore or psql is not installed."""
    if db.dialect.name == "postgresql" and not all(map(shutil.which, ("pg_dump", "pg_restore", "psql"))):
        pytest.skip("PostgreSQL client tools not installed")

