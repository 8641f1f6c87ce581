"""Loaded models by (models folder, name, version), reloaded when a promotion, rollback or new file says so.

Every lookup re-reads the tiny CURRENT file and stats the model file, so a promotion or rollback (by the API,
the CLI or another process) is served on the next request without a restart, and a replaced or corrupted
file is noticed. A model that cannot be used raises ``ModelUnavailable`` saying why; the failure is cached
too (until the file changes), so a broken model costs one load, not one per request.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsm_ai.registry import store

log = logging.getLogger(__name__)

# (name, version, model) -> why the model cannot be served, or None when it can.
Validator = Callable[[str, str, Any], str | None]


class ModelUnavailable(Exception):
    """No usable model: none trained or promoted, or its files are missing or corrupt."""

    def __init__(self, reason: str, version: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.version = version


@dataclass
class LoadedModel:
    """A model loaded from the registry, with the file stamp it was loaded from."""

    name: str
    version: str
    model: Any
    metadata: dict[str, Any]
    stamp: tuple[int, int]


@dataclass
class _Failure:
    reason: str
    stamp: tuple[int, int]


class ModelCache:
    """Loaded models by (folder, name, version); reloads when CURRENT or the model file changes.

    ``validate`` refuses models its user cannot serve (e.g. a model of another kind saved under the name).
    """

    def __init__(self, max_entries: int = 16, *, validate: Validator | None = None):
        self.max_entries = max_entries
        self.validate = validate
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str, str], LoadedModel | _Failure] = OrderedDict()

    def clear(self) -> None:
        """Forget every loaded model."""
        with self._lock:
            self._entries.clear()

    def get(self, name: str, version: str | None = None, *, folder: Path | None = None) -> LoadedModel:
        """The CURRENT (or the given) version of a model, or ModelUnavailable saying why."""
        root = Path(folder or store.default_dir()).resolve()
        try:
            if version is None:
                version = store.current_version(name, models_dir=root)
                if version is None:
                    raise ModelUnavailable(f"no {name} model has been trained and promoted yet")
            model_path = store.model_file(name, version, models_dir=root)
        except store.RegistryError as exc:
            raise ModelUnavailable(str(exc), version) from exc
        try:
            st = model_path.stat()
        except OSError:
            raise ModelUnavailable(f"the model file of {name} {version} is missing", version) from None
        stamp = (st.st_mtime_ns, st.st_size)
        key = (str(root), name, version)
        entry = self._lookup(key, stamp)
        if entry is None:
            with self._load_lock:  # one thread loads; the others wait and reuse it
                entry = self._lookup(key, stamp)
                if entry is None:
                    entry = self._load(root, name, version, stamp)
                    with self._lock:
                        self._entries[key] = entry
                        self._entries.move_to_end(key)
                        while len(self._entries) > self.max_entries:
                            self._entries.popitem(last=False)
        if isinstance(entry, _Failure):
            raise ModelUnavailable(entry.reason, version)
        return entry

    def _lookup(self, key, stamp) -> LoadedModel | _Failure | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.stamp == stamp:
                self._entries.move_to_end(key)
                return entry
        return None

    def _load(self, root: Path, name: str, version: str, stamp) -> LoadedModel | _Failure:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", store.ModelVersionWarning)
                model = store.load(name, version, models_dir=root)
            for warning in caught:
                log.warning("%s", warning.message)
            meta = store.read_metadata(name, version, models_dir=root)
        except store.RegistryError as exc:
            log.warning("model %s %s is unusable: %s", name, version, exc)
            return _Failure(str(exc), stamp)
        problem = self.validate(name, version, model) if self.validate is not None else None
        if problem is not None:
            return _Failure(problem, stamp)
        return LoadedModel(name, version, model, meta, stamp)
