"""Blue/green encoders of the retrieval service: which encoder it serves, where that encoder's index lives,
and the encoder and index it left, kept in memory for an instant rollback.

Vectors of two encoders never share an index: each encoder version has its own index folder
(``encoders.index_directory``). The registry's CURRENT names the encoder to serve; a promotion fills the new
folder first (``itsm_ai.encoder``), then moves CURRENT. The service asks ``moved()`` before every search
(one small file read) and, under its own lock, ``swap``s: the slot it leaves becomes the standby, so a
rollback finds that encoder and its index still loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from itsm_ai.knowledge.retrieval.encoders import (
    default_encoder,
    encoder_for_version,
    index_directory,
    promoted_encoder_version,
)
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex

log = logging.getLogger(__name__)


class EncoderSwitch:
    """The served encoder version, its encoder and index folder, and the slot swapped out last."""

    def __init__(
        self,
        *,
        base_directory: str | Path,
        models_dir: Any,
        encoder: Any = None,
        follow_registry: bool,
        resolve: Callable[[str | None], Any] | None = None,
    ):
        self.base_directory = Path(base_directory)
        self.directory = Path(base_directory)
        self.models_dir = models_dir
        # A given encoder is used as is; only a switch that follows the registry swaps it.
        self.follow_registry = follow_registry
        self.version: str | None = None
        self._encoder = encoder
        self._resolve = resolve or (lambda v: encoder_for_version(v, models_dir))
        # (version, encoder, index, directory) left by the last swap: a rollback swaps it back at once.
        self._standby: tuple[str | None, Any, VectorIndex | None, Path] | None = None

    @property
    def encoder(self) -> Any:
        """The served encoder (loaded lazily: the real model only when something is embedded)."""
        if self._encoder is None:
            self._encoder = self._resolve(self.version) if self.follow_registry else default_encoder()
        return self._encoder

    @encoder.setter
    def encoder(self, encoder: Any) -> None:
        self._encoder = encoder

    def moved(self) -> bool:
        """True when the registry's CURRENT names another version than the one served."""
        return self.follow_registry and promoted_encoder_version(self.models_dir) != self.version

    def swap(self, index: VectorIndex | None) -> tuple[bool, VectorIndex | None]:
        """Serve the version CURRENT names, leaving the served one (with ``index``) as the standby.

        Returns whether it swapped and the index to serve: the standby's when that is the version wanted (a
        rollback), None when the new version's index is still to be loaded from its folder.
        """
        wanted = promoted_encoder_version(self.models_dir)
        if not self.follow_registry or wanted == self.version:
            return False, index
        left = (self.version, self._encoder, index, self.directory)
        standby = self._standby
        if standby is not None and standby[0] == wanted and standby[1] is not None:
            _, encoder, index, directory = standby
        else:
            encoder, index = self._resolve(wanted), None
            directory = index_directory(self.base_directory, wanted)
        self._encoder, self.directory, self.version = encoder, directory, wanted
        self._standby = left if left[1] is not None else None
        log.info("retrieval: switching to encoder %s (%s)", wanted or "configured model", directory)
        return True, index

    def adopt_promoted(self) -> None:
        """Take the promoted version and its index folder (before a first load or a rebuild)."""
        if self.follow_registry:
            self.version = promoted_encoder_version(self.models_dir)
            self.directory = index_directory(self.base_directory, self.version)
            self._encoder = None
