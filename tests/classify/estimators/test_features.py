"""Feature transformers: TF-IDF, fields, embeddings (with a stand-in encoder) and pickling."""

import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

from itsm_ai.classify.estimators import features as features_module
from itsm_ai.classify.estimators.features import (
    EmbeddingVectorizer,
    TriageFeatures,
    as_text_list,
    clear_embedding_cache,
    fields_to_text,
    hstack_rows,
    tfidf_rows,
)
from itsm_ai.classify.estimators.text import clean_ticket_text, fix_mojibake


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


def test_mojibake_is_repaired_and_clean_text_is_left_alone():
    assert fix_mojibake("mit freundlichen grÃ¼ÃŸen") == "mit freundlichen grüßen"
    assert fix_mojibake("machine nÃ£o estÃ¡ funcionando") == "machine não está funcionando"
    for text in ("grüßen café", "plain ascii", "Ã alone"):
        assert fix_mojibake(text) == text


def test_cleaning_drops_mail_headers_addresses_and_greetings():
    raw = (
        "outlook . \r\n\r\nreceived from: hmjdrvpb.komuaywn@gmail.com\r\n\r\nhello team,\r\n\r\n"
        "my meetings are not in my calendar, ask bob@example.com\r\n\r\nkind regards\r\n"
    )
    assert clean_ticket_text(raw) == "outlook . my meetings are not in my calendar, ask"
    forwarded = "from: a b\nsent: monday 9:10 pm\nto: c d\nsubject: re: wg: vpn blocked\n\nhi,\nvpn fails"
    assert clean_ticket_text(forwarded) == "vpn blocked vpn fails"
    assert clean_ticket_text(clean_ticket_text(raw)) == clean_ticket_text(raw)
    assert clean_ticket_text("hello,") == "hello,"  # a bare greeting keeps its words


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


# ------------------------------------------------------------------------------ fast TF-IDF transform

ODD_TEXTS = [
    "",
    "   ",
    "Drucker im 3. Stock druckt nicht – grüße aus Köln, Straße",
    "ÉCRAN NOIR après la mise à jour; café ☕ naïve coöperate",
    "日本語のチケット: VPN 接続できません 🙂🙂",
    "e\u0301cran combining accents and \u00a0non-breaking\u2003spaces",
    "zzqx unseenword qqqq 12345 ###",
    "mit freundlichen grÃ¼ÃŸen",
    "printer printer printer PRINTER jam jam",
]

TFIDF_CONFIGS = {
    "word_sublinear_accents": {"ngram_range": (1, 2), "sublinear_tf": True, "strip_accents": "unicode"},
    "char_wb": {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "dtype": np.float32},
    "char_cased_l1": {"analyzer": "char", "ngram_range": (1, 3), "lowercase": False, "norm": "l1"},
    "word_no_norm_no_idf": {"norm": None, "use_idf": False, "binary": True},
    "word_stop_words_ascii": {"stop_words": "english", "strip_accents": "ascii", "smooth_idf": False},
    "callable_analyzer": {"analyzer": str.split, "lowercase": False, "dtype": np.float32},
    "token_pattern": {"token_pattern": r"(?u)\b\w+\b", "ngram_range": (1, 3), "max_features": 50},
}


def _same_csr(fast, slow) -> None:
    assert type(fast) is type(slow) and fast.shape == slow.shape
    assert fast.dtype == slow.dtype
    assert np.array_equal(fast.indptr, slow.indptr) and np.array_equal(fast.indices, slow.indices)
    # The same operations on the same dtypes: equal bits, not merely close values.
    assert np.array_equal(fast.data, slow.data)


@pytest.mark.parametrize("config", sorted(TFIDF_CONFIGS))
def test_fast_tfidf_rows_equal_scikit_learns_transform(config, topics):
    texts = topics[0][:120]
    vectorizer = TfidfVectorizer(**TFIDF_CONFIGS[config]).fit(texts)
    batches = [[texts[0]], *([t] for t in ODD_TEXTS), ODD_TEXTS, [*texts[100:120], *ODD_TEXTS]]
    for docs in batches:
        _same_csr(tfidf_rows(vectorizer, docs), vectorizer.transform(docs))


def test_fast_tfidf_rows_decline_what_they_do_not_copy(topics):
    texts = topics[0][:50]

    class Custom(TfidfVectorizer):
        pass

    assert tfidf_rows(TfidfVectorizer(), texts) is None  # not fitted: scikit-learn raises its own error
    assert tfidf_rows(Custom().fit(texts), texts) is None
    fitted = TfidfVectorizer().fit(texts)
    assert tfidf_rows(clone(fitted).fit(texts).set_params(input="file"), texts) is None
    assert tfidf_rows(fitted, "a single string") is None
    assert tfidf_rows(fitted, []) is None
    with config_context(sparse_interface="sparray"):
        assert tfidf_rows(fitted, texts) is None


def test_hstack_rows_equals_scipy_hstack():
    rng = np.random.default_rng(0)
    blocks = [sp.random(5, n, density=0.3, format="csr", dtype=np.float32, random_state=rng) for n in (7, 4)]
    blocks.insert(1, sp.csr_matrix((5, 1), dtype=np.float32))  # a block without entries
    fast = hstack_rows([(b.data, b.indices, b.indptr, b.shape[1]) for b in blocks])
    _same_csr(fast, sp.hstack(blocks, format="csr", dtype=np.float32))


@pytest.mark.parametrize("kind", ["tfidf", "tfidf_word_only", "both", "both_zero_weight", "fields"])
def test_fast_transform_parts_equal_the_scikit_learn_path(kind, topics, routing, fake_encoder, monkeypatch):
    if kind == "fields":
        train, queries = routing[0][:300], [*routing[0][300:310], {}, {"category": "Ünïcode 日本"}]
        feats = TriageFeatures("fields").fit(train)
    else:
        params = {
            "tfidf": {"features": "tfidf"},
            "tfidf_word_only": {"features": "tfidf", "char_ngram_range": None},
            "both": {"features": "both", "embedding_weight": 0.5},
            "both_zero_weight": {"features": "both", "embedding_weight": 0.0},
        }[kind]
        train, queries = topics[0][:150], [*topics[0][150:160], *ODD_TEXTS]
        feats = TriageFeatures(**params).fit(train)
    cases = [[q] for q in queries] + [queries]
    fast = [feats.transform_parts(docs) for docs in cases]
    monkeypatch.setattr(features_module, "FAST_TRANSFORM_MAX_DOCS", -1)
    for docs, got in zip(cases, fast, strict=True):
        want = feats.transform_parts(docs)
        _same_csr(got[0], want[0])
        _same_csr(got[2], want[2])
        assert (got[1] is None) == (want[1] is None)
        if want[1] is not None:
            assert np.array_equal(got[1], want[1])
