"""Encoders the retrieval service embeds with: the configured sentence-embedding model, or an offline hashing
encoder (tests, machines without the model). Both have ``model_name``, ``model_version``, ``dimension`` and
``encode(texts)``, which is all the indexes need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from itsm_ai.config import get_settings
from itsm_ai.knowledge.tokens import tokenize


class HashingEncoder:
    """Offline bag-of-words hashing encoder with the Encoder interface (tests, machines without the model)."""

    model_name = "hashing-bow"
    model_version = "hashing-bow==1"
    dimension = 256

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed texts as normalised sums of per-token pseudo-random vectors."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for tok in tokenize(text):
                seed = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[row] += np.random.default_rng(seed).standard_normal(self.dimension, dtype=np.float32)
            if not out[row].any():
                out[row, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def default_encoder() -> Any:
    """The encoder the settings name: the shared encoder of the configured embedding model, or hashing."""
    if get_settings().knowledge_encoder == "hash":
        return HashingEncoder()
    from itsm_ai.embeddings import get_encoder

    return get_encoder()


# ------------------------------------------------------------------------- the promoted (fine-tuned) encoder

# Registry name of the retrieval encoder fine-tuned on the desk's pairs; no CURRENT = the configured model.
ENCODER_MODEL = "encoder"
# Inside a version folder: the saved sentence-transformers model.
WEIGHTS_FOLDER = "weights"

_versioned: dict[tuple[str, str], Any] = {}


def promoted_encoder_version(models_dir: Any = None) -> str | None:
    """The encoder version CURRENT in the registry (None: the configured model); read on every call, so
    every process switches when any one promotes or rolls back."""
    from itsm_ai.registry import store

    try:
        return store.current_version(ENCODER_MODEL, models_dir=models_dir)
    except store.RegistryError:
        return None


def encoder_for_version(version: str | None, models_dir: Any = None) -> Any:
    """The encoder of a registry version (its saved weights), or the configured one for None."""
    if version is None:
        return default_encoder()
    from itsm_ai.embeddings import Encoder
    from itsm_ai.registry import store

    folder = store.model_dir(ENCODER_MODEL, models_dir) / store.check_version(version) / WEIGHTS_FOLDER
    key = (str(folder), version)
    if key not in _versioned:
        s = get_settings()
        _versioned[key] = Encoder(
            s.embedding_backend, s.embedding_batch_size, model_name=f"{ENCODER_MODEL}/{version}",
            model_path=folder,
        )
    return _versioned[key]


def index_directory(base: Any, version: str | None) -> Any:
    """Where the index of an encoder's vectors lives: the base folder for the configured model, a folder per
    version beside it otherwise (blue/green: a promotion fills its own, a rollback finds the old one)."""
    from pathlib import Path

    return Path(base) if version is None else Path(base) / "encoders" / version
