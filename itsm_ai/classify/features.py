"""Features for triage: TF-IDF word + character n-grams, sentence embeddings, both, or structured fields.

`TriageFeatures` is the one transformer the classifier uses; `features` picks the kind:

- ``"tfidf"``: word n-grams and character (``char_wb``) n-grams, each block L2-normalised.
- ``"embedding"``: all-MiniLM-L6-v2 sentence embeddings (unit vectors) from `EmbeddingVectorizer`.
- ``"both"``: the TF-IDF blocks and the embedding (times ``embedding_weight``) side by side in one sparse
  matrix; every block has unit norm, so no block dominates by scale.
- ``"fields"``: structured routing fields. Each input is a mapping such as
  ``{"category": "55", "subcategory": "170", "cmdb_ci": "?"}`` (or an already tokenised
  ``"category=55 subcategory=170"`` string). Each present value becomes a one-hot ``field=value`` token, plus
  ``a=x&b=y`` tokens for every pair of fields so a linear model can learn combinations. Missing values
  (None, NaN, "", "?") give no token.

Embeddings of texts already seen are kept in a bounded in-process cache, so cross-validation and the
threshold folds embed each text once; `prime_embedding_cache` lets a benchmark load vectors from disk.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

FEATURE_KINDS = ("tfidf", "embedding", "both", "fields")
MISSING_FIELD_VALUES = frozenset({"", "?", "nan", "none", "null"})
EMBEDDING_CACHE_SIZE = 50_000

_cache_lock = threading.Lock()
_embedding_cache: OrderedDict[tuple[str, bytes], np.ndarray] = OrderedDict()


def _text_key(backend: str, text: str) -> tuple[str, bytes]:
    return backend, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def clear_embedding_cache() -> None:
    """Forget every cached embedding (benchmarks use it to time a cold call)."""
    with _cache_lock:
        _embedding_cache.clear()


def prime_embedding_cache(texts: Sequence[str], vectors: np.ndarray, backend: str = "torch") -> None:
    """Put precomputed embeddings of texts into the in-process cache (e.g. loaded from disk)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape != (len(texts), 384):
        raise ValueError(f"vectors must have shape ({len(texts)}, 384), got {vectors.shape}")
    with _cache_lock:
        for text, vec in zip(texts, vectors, strict=True):
            _embedding_cache[_text_key(backend, text)] = vec
        while len(_embedding_cache) > EMBEDDING_CACHE_SIZE:
            _embedding_cache.popitem(last=False)


def as_text_list(X: Any, *, name: str = "X") -> list[str]:
    """Validate a sequence of texts; None/NaN become "" and anything else non-string is an error."""
    if isinstance(X, str) or not isinstance(X, Iterable):
        raise TypeError(f"{name} must be a list of strings, got {type(X).__name__}")
    out: list[str] = []
    for i, item in enumerate(X):
        if isinstance(item, str):
            out.append(item)
        elif item is None or (isinstance(item, float) and math.isnan(item)):
            out.append("")
        else:
            raise TypeError(f"{name}[{i}] must be a string, got {type(item).__name__}")
    return out


def _field_token(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = "_".join(str(value).split())
    return None if text.lower() in MISSING_FIELD_VALUES else text


def fields_to_text(record: Mapping[str, Any] | str, *, crosses: bool = True) -> str:
    """Turn a mapping of routing fields into ``field=value`` tokens (plus pairwise ``a=x&b=y`` crosses)."""
    if isinstance(record, str):
        return record
    if not isinstance(record, Mapping):
        raise TypeError(f"a fields record must be a mapping or a string, got {type(record).__name__}")
    tokens = []
    for key in sorted(record, key=str):
        value = _field_token(record[key])
        if value is not None:
            tokens.append(f"{'_'.join(str(key).split())}={value}")
    if crosses:
        tokens += [f"{a}&{b}" for a, b in itertools.combinations(tokens, 2)]
    return " ".join(tokens)


def _split_tokens(text: str) -> list[str]:
    return text.split()


class EmbeddingVectorizer(TransformerMixin, BaseEstimator):
    """Sentence embeddings (all-MiniLM-L6-v2) as a scikit-learn transformer; the encoder is never pickled."""

    def __init__(self, backend: str = "torch", batch_size: int = 64, use_cache: bool = True):
        self.backend = backend
        self.batch_size = batch_size
        self.use_cache = use_cache

    def fit(self, X, y=None):
        """Record the embedding model's identity (embeddings need no training)."""
        as_text_list(X)
        from itsm_ai.embeddings import DIMENSION, MODEL_NAME

        self.model_name_ = MODEL_NAME
        self.n_output_features_ = DIMENSION
        return self

    def _get_encoder(self):
        encoder = getattr(self, "_encoder", None)
        if encoder is None:
            from itsm_ai.embeddings import get_encoder

            encoder = get_encoder(backend=self.backend, batch_size=self.batch_size)
            self._encoder = encoder
        return encoder

    def transform(self, X) -> np.ndarray:
        """Embed texts as an (n, 384) float32 array of unit vectors."""
        check_is_fitted(self, "model_name_")
        texts = as_text_list(X)
        if not self.use_cache:
            return self._get_encoder().encode(texts)
        keys = [_text_key(self.backend, t) for t in texts]
        out = np.empty((len(texts), self.n_output_features_), dtype=np.float32)
        missing: dict[tuple[str, bytes], list[int]] = {}
        with _cache_lock:
            for i, key in enumerate(keys):
                vec = _embedding_cache.get(key)
                if vec is None:
                    missing.setdefault(key, []).append(i)
                else:
                    _embedding_cache.move_to_end(key)
                    out[i] = vec
        if missing:
            firsts = [rows[0] for rows in missing.values()]
            vectors = self._get_encoder().encode([texts[i] for i in firsts])
            with _cache_lock:
                for (key, rows), vec in zip(missing.items(), vectors, strict=True):
                    out[rows] = vec
                    _embedding_cache[key] = vec
                while len(_embedding_cache) > EMBEDDING_CACHE_SIZE:
                    _embedding_cache.popitem(last=False)
        return out

    def __getstate__(self):
        # object.__getstate__ returns the live __dict__: copy it before dropping the encoder.
        state = dict(super().__getstate__())
        state.pop("_encoder", None)
        return state


class TriageFeatures(TransformerMixin, BaseEstimator):
    """Feature matrix for triage: TF-IDF n-grams, embeddings, both, or one-hot structured fields."""

    def __init__(
        self,
        features: str = "both",
        *,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        min_df: int = 2,
        max_features: int | None = 200_000,
        embedding_weight: float = 1.0,
        field_crosses: bool = True,
        embedding_backend: str = "torch",
    ):
        self.features = features
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.embedding_weight = embedding_weight
        self.field_crosses = field_crosses
        self.embedding_backend = embedding_backend

    @property
    def uses_embedding(self) -> bool:
        """True when the features include sentence embeddings."""
        return self.features in ("embedding", "both")

    def as_documents(self, X) -> list[str]:
        """The documents behind X: texts as they are, field records as ``field=value`` token strings."""
        if self.features == "fields":
            if isinstance(X, str) or not isinstance(X, Iterable):
                raise TypeError(f"X must be a list of field mappings, got {type(X).__name__}")
            if hasattr(X, "to_dict") and hasattr(X, "columns"):  # a pandas DataFrame
                X = X.to_dict("records")
            return [fields_to_text(r, crosses=self.field_crosses) for r in X]
        return as_text_list(X)

    def fit(self, X, y=None):
        """Learn the vocabularies (and check the embedding model) from training inputs."""
        if self.features not in FEATURE_KINDS:
            raise ValueError(f"features must be one of {FEATURE_KINDS}, got {self.features!r}")
        docs = self.as_documents(X)
        if not docs:
            raise ValueError("X is empty")
        self.word_ = self.char_ = self.embedding_ = self.fields_ = None
        # min_df is capped so that tiny training sets (tests, rare queues) still get a vocabulary.
        min_df = min(self.min_df, max(1, len(docs) // 10))
        if self.features in ("tfidf", "both"):
            self.word_ = TfidfVectorizer(
                ngram_range=tuple(self.word_ngram_range),
                min_df=min_df,
                max_features=self.max_features,
                sublinear_tf=True,
                strip_accents="unicode",
                dtype=np.float32,
            ).fit(docs)
            if self.char_ngram_range:
                self.char_ = TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=tuple(self.char_ngram_range),
                    min_df=min_df,
                    max_features=self.max_features,
                    sublinear_tf=True,
                    strip_accents="unicode",
                    dtype=np.float32,
                ).fit(docs)
        if self.uses_embedding:
            self.embedding_ = EmbeddingVectorizer(backend=self.embedding_backend).fit(docs)
        if self.features == "fields":
            self.fields_ = TfidfVectorizer(
                analyzer=_split_tokens, lowercase=False, min_df=1, sublinear_tf=True, dtype=np.float32
            ).fit(docs)
        return self

    def transform_parts(
        self, X
    ) -> tuple[sp.csr_matrix | np.ndarray, np.ndarray | None, sp.csr_matrix | None]:
        """Return (feature matrix, dense embeddings or None, sparse similarity features or None)."""
        check_is_fitted(self, "word_")
        docs = self.as_documents(X)
        blocks: list = []
        embeddings = sparse_sim = None
        if self.word_ is not None:
            word = self.word_.transform(docs)
            blocks.append(word)
            sparse_sim = word
        if self.char_ is not None:
            blocks.append(self.char_.transform(docs))
        if self.fields_ is not None:
            sparse_sim = self.fields_.transform(docs)
            blocks.append(sparse_sim)
        if self.embedding_ is not None:
            embeddings = self.embedding_.transform(docs)
            if not blocks:
                return embeddings, embeddings, None
            blocks.append(sp.csr_matrix(embeddings * np.float32(self.embedding_weight)))
        matrix = blocks[0] if len(blocks) == 1 else sp.hstack(blocks, format="csr", dtype=np.float32)
        return matrix, embeddings, sparse_sim

    def transform(self, X):
        """Return the feature matrix (sparse CSR, or dense for embeddings alone)."""
        return self.transform_parts(X)[0]
