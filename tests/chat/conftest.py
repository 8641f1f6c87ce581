"""Chat fixtures: the TF-IDF intent detector (no model load), the hashing encoder for retrieval, helpers."""

from __future__ import annotations

import pytest

from tests.api.conftest import API


@pytest.fixture(autouse=True)
def chat_settings(monkeypatch, tmp_path):
    """Per test: TF-IDF-only detector, retrieval with the offline hashing encoder (tickets created by a test
    are indexed on commit: no MiniLM load), a freshly loaded detector."""
    from itsm_ai.chat.detector import reset_detector
    from itsm_ai.config import get_settings
    from itsm_ai.knowledge.retrieval import service as retrieval_service

    settings = get_settings()
    monkeypatch.setattr(settings, "chat_intent_embeddings", False)
    monkeypatch.setattr(settings, "knowledge_warm_on_startup", False)
    monkeypatch.setattr(settings, "knowledge_encoder", "hash")
    monkeypatch.setattr(settings, "knowledge_index_dir", tmp_path / "index")
    reset_detector()
    retrieval_service.reset_service(None)
    yield settings
    retrieval_service.reset_service(None)
    reset_detector()


@pytest.fixture
def retrieval(db, tmp_path):
    """A process-wide retrieval service with the hashing encoder, index under tmp_path."""
    from itsm_ai.config import get_settings
    from itsm_ai.engine import install
    from itsm_ai.knowledge.retrieval import service as retrieval_service
    from itsm_ai.knowledge.retrieval.encoders import HashingEncoder

    install()
    settings = get_settings().model_copy(
        update={"knowledge_index_dir": tmp_path / "index", "knowledge_warm_on_startup": False}
    )
    svc = retrieval_service.RetrievalService(encoder=HashingEncoder(), settings=settings)
    svc.watermarks.catch_up_seconds = 0.0
    retrieval_service.reset_service(svc)
    yield svc
    retrieval_service.reset_service(None)


class Chat:
    """Talks to POST /chat as one user, asserting 200."""

    def __init__(self, client, actor):
        self.client = client
        self.actor = actor
        self.conversation_id = None

    def say(self, message: str, **extra) -> dict:
        body = {"conversation_id": self.conversation_id, "message": message, **extra}
        r = self.client.post(f"{API}/chat", json=body, headers=self.actor.headers)
        assert r.status_code == 200, r.text
        out = r.json()
        self.conversation_id = out["conversation_id"]
        return out

    def pick(self, choice: str) -> dict:
        body = {"conversation_id": self.conversation_id, "choice": choice}
        r = self.client.post(f"{API}/chat", json=body, headers=self.actor.headers)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def chat(client, users):
    """A chat as the requester."""
    return Chat(client, users["requester"])


@pytest.fixture
def chat_as(client, users):
    """Factory: a chat as the named user."""
    return lambda name: Chat(client, users[name])
