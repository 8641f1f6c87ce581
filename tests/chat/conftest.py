"""Chat fixtures: the TF-IDF intent detector (no model load) a fresh instance trains, trained once and copied
into each test's models folder; the hashing encoder for retrieval; helpers."""

from __future__ import annotations

import shutil

import pytest

from tests.api.conftest import API


@pytest.fixture(autouse=True)
def chat_settings(monkeypatch, tmp_path):
    """Per test: TF-IDF-only detector, no background retraining on first load (a test trains explicitly),
    retrieval with the offline hashing encoder (tickets created by a test are indexed on commit: no MiniLM
    load), a freshly loaded detector."""
    from itsm_ai.chat.detector import reset_detector
    from itsm_ai.config import get_settings
    from itsm_ai.knowledge.retrieval import service as retrieval_service

    settings = get_settings()
    monkeypatch.setattr(settings, "chat_intent_embeddings", False)
    monkeypatch.setattr(settings, "chat_train_on_startup", False)
    monkeypatch.setattr(settings, "knowledge_warm_on_startup", False)
    monkeypatch.setattr(settings, "knowledge_encoder", "hash")
    monkeypatch.setattr(settings, "knowledge_index_dir", tmp_path / "index")
    reset_detector()
    retrieval_service.reset_service(None)
    yield settings
    retrieval_service.reset_service(None)
    reset_detector()


@pytest.fixture(scope="session")
def fresh_models(engine, tmp_path_factory):
    """A models folder holding the detector a fresh instance trains (no tickets, TF-IDF only)."""
    from itsm_ai.chat import detector
    from itsm_ai.config import get_settings
    from itsm_ai.database import get_session
    from tests.conftest import clean_database

    clean_database(engine)
    folder = tmp_path_factory.mktemp("chat-models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(get_settings(), "chat_intent_embeddings", False)
        mp.setattr(get_settings(), "models_dir", folder)
        with get_session() as session:
            detector.train(db_session=session)
        detector.reset_detector()
    return folder


@pytest.fixture
def models(db, fresh_models, tmp_path, chat_settings, monkeypatch):
    """This test's models folder, starting with the fresh instance's detector promoted."""
    folder = tmp_path / "models"
    shutil.copytree(fresh_models, folder)
    monkeypatch.setattr(chat_settings, "models_dir", folder)
    return folder


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
def chat(client, users, models):
    """A chat as the requester."""
    return Chat(client, users["requester"])


@pytest.fixture
def chat_as(client, users, models):
    """Factory: a chat as the named user."""
    return lambda name: Chat(client, users[name])
