"""Encoder tests: a registry and index folder per test; fast tests serve fake encoder versions (hashing
encoders salted by the version, so two versions' vectors differ), slow ones train the real model a step."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from itsm_ai.knowledge.retrieval.encoders import ENCODER_MODEL, HashingEncoder
from itsm_ai.knowledge.tokens import tokenize


class VersionEncoder(HashingEncoder):
    """A hashing encoder standing for one encoder version (None: the stock model)."""

    def __init__(self, version: str | None):
        self.version = version
        self.model_name = "stock" if version is None else f"encoder/{version}"
        self.model_version = f"{self.model_name}==1"
        self.calls = 0

    def encode(self, texts, *, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        salt = (self.version or "").encode()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for tok in tokenize(text):
                seed = int.from_bytes(hashlib.blake2b(salt + tok.encode(), digest_size=8).digest(), "little")
                out[row] += np.random.default_rng(seed).standard_normal(self.dimension, dtype=np.float32)
            if not out[row].any():
                out[row, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def encoder_env(tmp_path, monkeypatch):
    """Settings pointing at this test's registry and index folders; encoder versions served by fakes."""
    from itsm_ai.config import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "models_dir", tmp_path / "models")
    monkeypatch.setattr(settings, "knowledge_index_dir", tmp_path / "index")
    monkeypatch.setattr(settings, "knowledge_encoder", "model")
    monkeypatch.setattr(settings, "knowledge_warm_on_startup", False)
    (tmp_path / "models").mkdir()
    made: dict[str | None, VersionEncoder] = {}

    def resolve(version, models_dir=None):
        if version not in made:
            made[version] = VersionEncoder(version)
        return made[version]

    monkeypatch.setattr("itsm_ai.knowledge.retrieval.encoder_switch.encoder_for_version", resolve)
    monkeypatch.setattr("itsm_ai.encoder.service.encoder_for_version", resolve)
    return made


@pytest.fixture
def fake_version(encoder_env):
    """Save an encoder version without weights (served by the fake); fake_version(keys=[...]) -> id."""
    from itsm_ai.config import get_settings
    from itsm_ai.encoder.service import KEYS_FILE, PROMOTE_FLOW
    from itsm_ai.encoder.training import EncoderArtifact
    from itsm_ai.registry import store

    def make(keys: list[str] = ()) -> str:
        def files(folder):
            (folder / KEYS_FILE).write_text("\n".join(keys) + "\n", encoding="utf-8")

        return store.save(
            EncoderArtifact("stock", "stock==1", 256),
            name=ENCODER_MODEL,
            metadata={"promoted_by": PROMOTE_FLOW, "data": {"size": len(keys)}},
            models_dir=get_settings().models_dir,
            extra_files=files,
        )

    return make


@pytest.fixture
def live(db, encoder_env):
    """The process-wide retrieval service following the registry (as the server runs it)."""
    from itsm_ai.engine import install
    from itsm_ai.knowledge.retrieval import service as retrieval

    install()
    service = retrieval.RetrievalService()
    service.watermarks.catch_up_seconds = 0.0
    retrieval.reset_service(service)
    yield service
    retrieval.reset_service(None)
