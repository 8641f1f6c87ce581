"""Features for triage: TF-IDF word + character n-grams, sentence embeddings, both, or structured fields.

`TriageFeatures` is the one transformer the classifier uses; `features` picks the kind:

- ``"tfidf"``: word n-grams and character (``char_wb``) n-grams, each block L2-normalised.
- ``"embedding"``: sentence embeddings (unit vectors) of the configured embedding model (all-MiniLM-L6-v2
  by default) from `EmbeddingVectorizer`, which records the model's name and refuses vectors of another.
- ``"both"``: the TF-IDF blocks and the embedding (times ``embedding_weight``) side by side in one sparse
  matrix; every block has unit norm, so no block dominates by scale.
- ``"fields"``: structured routing fields. Each input is a mapping such as
  ``{"category": "55", "subcategory": "170", "cmdb_ci": "?"}`` (or an already tokenised
  ``"category=55 subcategory=170"`` string). Each present value becomes a one-hot ``field=value`` token, plus
  ``a=x&b=y`` tokens for every pair of fields so a linear model can learn combinations. Missing values
  (None, NaN, "", "?") give no token.

Embeddings of texts already seen are kept in a bounded in-process cache, so cross-validation and the
threshold folds embed each text once; `prime_embedding_cache` lets a benchmark load vectors from disk.

For a few documents (a new ticket) `transform_parts` builds the TF-IDF rows itself (`tfidf_rows`): the
same analyzer, counts, operations and dtypes as the fitted `TfidfVectorizer`, without scikit-learn's
per-call input validation, which costs several times the work itself on one short text.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l1, inplace_csr_row_normalize_l2
from sklearn.utils.validation import check_is_fitted

FEATURE_KINDS = ("tfidf", "embedding", "both", "fields")
MISSING_FIELD_VALUES = frozenset({"", "?", "nan", "none", "null"})
EMBEDDING_CACHE_SIZE = 50_000
# Up to this many documents `transform_parts` takes the fast path; larger batches are scikit-learn's.
FAST_TRANSFORM_MAX_DOCS = 64
_INT32_MAX = np.iinfo(np.int32).max

_cache_lock = threading.Lock()
_embedding_cache: OrderedDict[tuple[str, str, bytes], np.ndarray] = OrderedDict()


def _text_key(model: str, backend: str, text: str) -> tuple[str, str, bytes]:
    return model, backend, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def clear_embedding_cache() -> None:
    """Forget every cached embedding (benchmarks use it to time a cold call)."""
    with _cache_lock:
        _embedding_cache.clear()


def prime_embedding_cache(texts: Sequence[str], vectors: np.ndarray, backend: str = "torch") -> None:
    """Put precomputed embeddings of texts (by the configured embedding model) into the in-process cache."""
    from itsm_ai.embeddings import get_encoder

    encoder = get_encoder(backend=backend)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape != (len(texts), encoder.dimension):
        raise ValueError(f"vectors must have shape ({len(texts)}, {encoder.dimension}), got {vectors.shape}")
    with _cache_lock:
        for text, vec in zip(texts, vectors, strict=True):
            _embedding_cache[_text_key(encoder.model_name, backend, text)] = vec
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


def tfidf_rows(vectorizer: Any, docs: Sequence[str]) -> sp.csr_matrix | None:
    """``vectorizer.transform(docs)`` (same values, dtype and columns), or None for a setup it does not copy.

    Covers a fitted `TfidfVectorizer` on string content with any analyzer (its own `build_analyzer`
    does the preprocessing and tokenising) and norm l1, l2 or None. The steps mirror scikit-learn's
    `CountVectorizer._count_vocab` and `TfidfTransformer.transform`; the transformer's fitted settings are
    read, as scikit-learn does, rather than the vectorizer's current params.
    """
    tfidf = getattr(vectorizer, "_tfidf", None)
    vocabulary = getattr(vectorizer, "vocabulary_", None)
    if (
        type(vectorizer) is not TfidfVectorizer
        or type(tfidf) is not TfidfTransformer
        or vectorizer.input != "content"
        or not isinstance(vocabulary, dict)
        or not vocabulary
        or len(vocabulary) > _INT32_MAX
        or getattr(tfidf, "n_features_in_", None) != len(vocabulary)
        or tfidf.norm not in ("l1", "l2", None)
        or np.dtype(vectorizer.dtype) not in (np.dtype(np.float32), np.dtype(np.float64))
        or get_config().get("sparse_interface", "spmatrix") != "spmatrix"
        or isinstance(docs, str)
        or len(docs) == 0  # scikit-learn rejects an empty batch: let it say so
    ):
        return None
    analyze = vectorizer.build_analyzer()
    indices: list[int] = []
    counts: list[int] = []
    indptr = [0]
    for doc in docs:
        # Counting the n-grams first (in C) looks each distinct one up once instead of every occurrence.
        row = {}
        for feature, n in Counter(analyze(doc)).items():
            column = vocabulary.get(feature)
            if column is not None:
                row[column] = n
        for column in sorted(row):
            indices.append(column)
            counts.append(row[column])
        indptr.append(len(indices))
    # Counts go through int32 as in scikit-learn, so the cast to floats rounds the same way.
    data = np.array(counts, dtype=np.intc).astype(vectorizer.dtype)
    matrix = sp.csr_matrix(
        (data, np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int32)),
        shape=(len(indptr) - 1, len(vocabulary)),
    )
    if vectorizer.binary:
        matrix.data.fill(1)
    if tfidf.sublinear_tf:
        np.log(matrix.data, matrix.data)
        matrix.data += 1.0
    if hasattr(tfidf, "idf_"):
        matrix.data *= tfidf.idf_[matrix.indices]
    if tfidf.norm == "l2":
        inplace_csr_row_normalize_l2(matrix)
    elif tfidf.norm == "l1":
        inplace_csr_row_normalize_l1(matrix)
    return matrix


def _dense_as_csr_parts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(data, indices, indptr, n_columns) of ``sp.csr_matrix(values)``: entries != 0 in row-major order."""
    mask = values != 0
    rows, columns = np.nonzero(mask)
    indptr = np.zeros(values.shape[0] + 1, dtype=np.int64)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    return values[rows, columns], columns, indptr, values.shape[1]


def hstack_rows(parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, int]]) -> sp.csr_matrix | None:
    """``sp.hstack(blocks, format="csr", dtype=np.float32)`` of (data, indices, indptr, n_columns) blocks.

    Returns None when the result would need 64-bit indices.
    """
    n_columns = sum(p[3] for p in parts)
    indptrs = [np.asarray(p[2], dtype=np.int64) for p in parts]
    n_rows = len(indptrs[0]) - 1
    row_sizes = sum(np.diff(ip) for ip in indptrs)
    if max(n_columns, int(row_sizes.sum())) > _INT32_MAX:
        return None
    offsets = np.cumsum([0, *(p[3] for p in parts[:-1])])
    # A stable sort on the row number puts each row's blocks side by side, keeping their order.
    rows = np.concatenate([np.repeat(np.arange(n_rows), np.diff(ip)) for ip in indptrs])
    order = np.argsort(rows, kind="stable")
    data = np.concatenate([np.asarray(p[0], dtype=np.float32) for p in parts])[order]
    indices = np.concatenate(
        [np.asarray(p[1], dtype=np.int64) + off for p, off in zip(parts, offsets, strict=True)]
    )[order].astype(np.int32)
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    np.cumsum(row_sizes, out=indptr[1:])
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_columns))


class EmbeddingVectorizer(TransformerMixin, BaseEstimator):
    """Sentence embeddings of the configured model as a scikit-learn transformer (the encoder is not pickled).

    ``fit`` records the model's name and vector size; ``transform`` refuses an encoder of another model (the
    setting changed since training), since its vectors mean nothing to the fitted classifier.
    """

    def __init__(self, backend: str = "torch", batch_size: int = 64, use_cache: bool = True):
        self.backend = backend
        self.batch_size = batch_size
        self.use_cache = use_cache

    def fit(self, X, y=None):
        """Record the embedding model's identity (embeddings need no training)."""
        as_text_list(X)
        encoder = self._get_encoder()
        self.model_name_ = str(encoder.model_name)
        self.model_version_ = getattr(encoder, "model_version", None)
        self.n_output_features_ = int(encoder.dimension)
        return self

    def _get_encoder(self):
        encoder = getattr(self, "_encoder", None)
        if encoder is None:
            from itsm_ai.embeddings import get_encoder

            encoder = get_encoder(backend=self.backend, batch_size=self.batch_size)
            self._encoder = encoder
        return encoder

    def _fitted_encoder(self):
        """The encoder, checked to be the model this transformer was fitted with."""
        encoder = self._get_encoder()
        if encoder.model_name != self.model_name_:
            raise ValueError(
                f"embeddings: fitted on {self.model_name_} vectors but the embedding model is now "
                f"{encoder.model_name}: retrain the model"
            )
        if encoder.dimension != self.n_output_features_:
            raise ValueError(
                f"embeddings: fitted on {self.n_output_features_}-d vectors but {encoder.model_name} makes "
                f"{encoder.dimension}-d ones: retrain the model"
            )
        return encoder

    def transform(self, X) -> np.ndarray:
        """Embed texts as an (n, n_output_features_) float32 array of unit vectors."""
        check_is_fitted(self, "model_name_")
        texts = as_text_list(X)
        encoder = self._fitted_encoder()
        if not self.use_cache:
            return encoder.encode(texts)
        keys = [_text_key(self.model_name_, self.backend, t) for t in texts]
        out = np.empty((len(texts), self.n_output_features_), dtype=np.float32)
        missing: dict[tuple[str, str, bytes], list[int]] = {}
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
            vectors = encoder.encode([texts[i] for i in firsts])
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
        fast = len(docs) <= FAST_TRANSFORM_MAX_DOCS

        def tfidf(vectorizer):
            rows = tfidf_rows(vectorizer, docs) if fast else None
            return vectorizer.transform(docs) if rows is None else rows

        blocks: list = []
        embeddings = sparse_sim = None
        if self.word_ is not None:
            word = tfidf(self.word_)
            blocks.append(word)
            sparse_sim = word
        if self.char_ is not None:
            blocks.append(tfidf(self.char_))
        if self.fields_ is not None:
            sparse_sim = tfidf(self.fields_)
            blocks.append(sparse_sim)
        if self.embedding_ is not None:
            embeddings = self.embedding_.transform(docs)
            if not blocks:
                return embeddings, embeddings, None
            scaled = embeddings * np.float32(self.embedding_weight)
            blocks.append(_dense_as_csr_parts(scaled) if fast else sp.csr_matrix(scaled))
        if len(blocks) == 1:
            return blocks[0], embeddings, sparse_sim
        matrix = None
        if fast and all(isinstance(b, tuple) or sp.isspmatrix_csr(b) for b in blocks):
            matrix = hstack_rows(
                [b if isinstance(b, tuple) else (b.data, b.indices, b.indptr, b.shape[1]) for b in blocks]
            )
        if matrix is None:
            blocks = [
                sp.csr_matrix(b[:3], shape=(len(docs), b[3])) if isinstance(b, tuple) else b for b in blocks
            ]
            matrix = sp.hstack(blocks, format="csr", dtype=np.float32)
        return matrix, embeddings, sparse_sim

    def transform(self, X):
        """Return the feature matrix (sparse CSR, or dense for embeddings alone)."""
        return self.transform_parts(X)[0]
