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
