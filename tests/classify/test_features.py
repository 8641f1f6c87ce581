"""Feature transformers: TF-IDF, fields, embeddings (with a stand-in encoder) and pickling."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from itsm_ai.classify.features import (
    EmbeddingVectorizer,
    TriageFeatures,
    as_text_list,
    clear_embedding_cache,
    fields_to_text,
)


def test_fields_become_tokens_with_crosses_and_skip_missing():
    text = fields_to_text({"category": "Category 55", "cmdb_ci": "?", "location": None, "u_symptom": "S 1"})
    tokens = text.split()
    assert "category=Category_55" in tokens and "u_symptom=S_1" in tokens
    assert "category=Category_55&u_symptom=S_1" in tokens
    assert not any("cmdb_ci" in t or "location" in t for t in tokens)
    assert fields_to_text({"a": "x"}, crosses=False) == "a=x"


def test_text_validation_names_the_bad_row():
    assert as_text_list(["a", None, float("nan")]) == ["a", "", ""]
    with pytest.raises(TypeError, match=r"X\[1\]"):
        as_text_list(["a", 3])
    with pytest.raises(TypeError):
        as_text_list("a single string")


def test_tfidf_features_are_sparse_word_and_char_blocks(topics):
    texts = topics[0][:100]
    feats = TriageFeatures("tfidf").fit(texts)
    matrix = feats.transform(texts[:5])
    assert matrix.shape[0] == 5
    assert matrix.shape[1] == len(feats.word_.vocabulary_) + len(feats.char_.vocabulary_)
    assert clone(feats).get_params() == feats.get_params()


def test_fields_features(routing):
    records = routing[0][:50]
    feats = TriageFeatures("fields").fit(records)
    matrix, dense, sparse_sim = feats.transform_parts(records[:3])
    assert dense is None and matrix.shape == sparse_sim.shape
    assert np.allclose(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel(), 1.0, atol=1e-5)


def test_unknown_feature_kind_is_rejected():
    with pytest.raises(ValueError, match="features"):
        TriageFeatures("bag-of-words").fit(["a b"])


def test_embedding_vectorizer_caches_and_is_pickled_without_encoder(fake_encoder):
    vec = EmbeddingVectorizer()
    with pytest.raises(NotFittedError):
        vec.transform(["x"])
    vec.fit(["printer broken"])
    first = vec.transform(["printer broken", "vpn down", "printer broken"])
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert np.allclose(first[0], first[2])
    calls = fake_encoder.calls
    vec.transform(["vpn down"])
    assert fake_encoder.calls == calls  # served from the cache
    assert getattr(vec, "_encoder", None) is fake_encoder
    restored = pickle.loads(pickle.dumps(vec))
    assert getattr(restored, "_encoder", None) is None
    assert getattr(vec, "_encoder", None) is fake_encoder  # pickling did not strip the live object
    clear_embedding_cache()
    assert np.allclose(restored.transform(["vpn down"]), first[1])
    assert fake_encoder.calls == calls + 1  # the encoder was fetched again after unpickling


def test_both_combines_tfidf_and_weighted_embeddings(fake_encoder, tmp_path):
    texts = ["printer is broken", "cannot log in to vpn", "new laptop please", "printer jam again"]
    feats = TriageFeatures("both", min_df=1, embedding_weight=0.5).fit(texts)
    matrix, dense, sparse_sim = feats.transform_parts(texts)
    assert dense.shape == (4, 384)
    assert matrix.shape[1] == sparse_sim.shape[1] + len(feats.char_.vocabulary_) + 384
    assert np.allclose(matrix[:, -384:].toarray(), 0.5 * dense, atol=1e-6)
    joblib.dump(feats, tmp_path / "f.joblib")
    again = joblib.load(tmp_path / "f.joblib")
    assert (again.transform(texts) != matrix).nnz == 0
