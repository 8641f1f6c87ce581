"""File-based model registry: ``<models_dir>/<name>/<version>/{model.joblib, metadata.json}`` + ``CURRENT``.

Any fitted, picklable model can be kept here (triage classifiers, the chat intent detector, ...); the registry
knows nothing of what a model is for.

- `save` writes a new version (``v0001``, ``v0002``, ...) into a temporary folder and renames it into place,
  so a version folder is complete or absent and an existing version is never overwritten.
- `promote` writes ``CURRENT`` atomically and appends to ``HISTORY`` (JSON lines); `rollback` returns to the
  version promoted before the current one.
- `load` reads only from inside `models_dir` (names and versions are checked, paths resolved), checks the
  model file against the SHA-256 in its metadata, and warns (`ModelVersionWarning`) when the libraries that
  saved it differ from the installed ones.
- A challenger (a saved version run in shadow beside CURRENT) is recorded in ``<name>/CHALLENGER``.
- A version may carry more files than the model (``extra_files``, e.g. an encoder's weights folder), and its
  metadata may name the flow that must promote it (``promoted_by``: e.g. the encoder's, which first builds
  the index of its vectors); a plain `promote` then refuses it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import joblib
import numpy as np

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
CURRENT_FILE = "CURRENT"
CHALLENGER_FILE = "CHALLENGER"
HISTORY_FILE = "HISTORY"
TRACKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib", "sentence-transformers", "torch")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VERSION_RE = re.compile(r"^v(\d{4,9})$")


class RegistryError(Exception):
    """A model cannot be saved, found or loaded (bad name, missing or corrupt files)."""


class ModelVersionWarning(UserWarning):
    """The model was saved with library versions other than the installed ones."""


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries a saved model depends on (no heavy imports)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for lib in TRACKED_LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = None
    return out


def data_snapshot(texts: Sequence, labels: Sequence) -> dict[str, Any]:
    """Content hash and size of a training set, to record in metadata."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        item = json.dumps(text, sort_keys=True, default=str) if not isinstance(text, str) else text
        digest.update(item.encode("utf-8", "surrogatepass") + b"\x1f")
        digest.update(str(label).encode("utf-8", "surrogatepass") + b"\x1e")
    return {"sha256": digest.hexdigest(), "size": len(labels)}


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: numpy scalars and arrays as Python values, other objects as repr."""
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def default_dir(settings: Any = None) -> Path:
    """The models folder named by the settings."""
    if settings is None:
        from itsm_ai.config import get_settings

        settings = get_settings()
    return Path(settings.models_dir)


def _root(models_dir: str | os.PathLike | None) -> Path:
    return Path(models_dir if models_dir is not None else default_dir()).resolve()


def _inside(root: Path, *parts: str) -> Path:
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise RegistryError(f"path {path} is outside the models folder {root}")
    return path


def model_dir(name: str, models_dir=None) -> Path:
    """The folder of a model's versions (checked: a valid name, inside the models folder)."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise RegistryError(f"invalid model name {name!r}: use letters, digits, '_', '-', '.' (max 64)")
    return _inside(_root(models_dir), name)


def check_version(version_id: str) -> str:
    """The version id itself when it is well formed (v0001, v0002, ...); RegistryError otherwise."""
    if not isinstance(version_id, str) or not _VERSION_RE.match(version_id):
        raise RegistryError(f"invalid version {version_id!r}: expected v0001, v0002, ...")
    return version_id


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialise writers of one model's CURRENT/HISTORY (advisory lock where the OS has one)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_versions(name: str, *, models_dir=None) -> list[str]:
    """Saved versions of a model, oldest first."""
    folder = model_dir(name, models_dir)
    if not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)]
    return sorted(found, key=lambda v: int(v[1:]))


def _model_metadata(model: Any) -> dict[str, Any]:
    """What any scikit-learn style model tells about itself, plus what it adds by ``registry_metadata()``."""
    meta: dict[str, Any] = {"model_class": f"{type(model).__module__}.{type(model).__qualname__}"}
    if hasattr(model, "get_params"):
        meta["params"] = model.get_params(deep=False)
    if hasattr(model, "classes_"):
        meta["classes"] = model.classes_
    describe = getattr(model, "registry_metadata", None)
    if callable(describe):
        meta.update(describe())
    return meta


def save(
    model: Any,
    *,
    name: str,
    metadata: dict | None = None,
    models_dir=None,
    promote: bool = False,
    extra_files: Callable[[Path], None] | None = None,
) -> str:
    """Save a model as a new version (never overwriting one) and return the version id.

    ``extra_files(folder)`` writes what else the version holds into its (still temporary) folder.
    """
    folder = model_dir(name, models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = _inside(folder, f".tmp-{uuid.uuid4().hex}")
    tmp.mkdir()
    try:
        if extra_files is not None:
            extra_files(tmp)
        joblib.dump(model, tmp / MODEL_FILE)
        base = {
            **_model_metadata(model),
            "name": name,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "libraries": library_versions(),
            "model_sha256": _sha256_file(tmp / MODEL_FILE),
        }
        meta = {**base, **(metadata or {})}
        for key in ("name", "libraries", "model_sha256"):  # what the registry measured is not overridable
            meta[key] = base[key]
        for _ in range(1000):
            existing = list_versions(name, models_dir=models_dir)
            number = int(existing[-1][1:]) + 1 if existing else 1
            version_id = f"v{number:04d}"
            meta["version"] = version_id
            _write_atomic(tmp / METADATA_FILE, json.dumps(jsonable(meta), indent=2, sort_keys=True))
            target = folder / version_id
            if target.exists():
                continue
            try:
                os.rename(tmp, target)  # atomic; fails if another writer created the version meanwhile
            except OSError:
                if target.exists():
                    continue
                raise
            break
        else:  # pragma: no cover
            raise RegistryError(f"could not allocate a new version for {name!r}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if promote:
        _promote(name, version_id, models_dir, managed=True)
    return version_id


def current_version(name: str, *, models_dir=None) -> str | None:
    """The promoted version of a model, or None when nothing was promoted."""
    path = model_dir(name, models_dir) / CURRENT_FILE
    if not path.exists():
        return None
    return check_version(path.read_text(encoding="utf-8").strip())


def _history(folder: Path) -> list[dict]:
    path = folder / HISTORY_FILE
    if not path.exists():
        return []
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise RegistryError(f"{path} line {number} is not valid JSON") from exc
    return events


def _promoted_stack(events: list[dict]) -> list[str]:
    stack: list[str] = []
    for event in events:
        if event.get("action") == "promote":
            stack.append(event["version"])
        elif event.get("action") == "rollback" and stack:
            stack.pop()
    return stack


def _set_current(folder: Path, version_id: str, action: str, events: list[dict]) -> None:
    events = [
        *events,
        {
            "action": action,
            "version": version_id,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    ]
    _write_atomic(folder / HISTORY_FILE, "".join(json.dumps(e) + "\n" for e in events))
    _write_atomic(folder / CURRENT_FILE, version_id + "\n")


def promote(name: str, version_id: str, *, models_dir=None, managed: bool = False) -> None:
    """Make a saved version the CURRENT one (atomically, recorded in HISTORY).

    A version whose metadata names a ``promoted_by`` flow is refused unless ``managed`` (that flow calls).
    """
    _promote(name, version_id, models_dir, managed=managed)


def _promote(name: str, version_id: str, models_dir, *, managed: bool = False) -> None:
    folder = model_dir(name, models_dir)
    check_version(version_id)
    if not (_inside(folder, version_id) / MODEL_FILE).is_file():
        raise RegistryError(f"model {name!r} has no version {version_id!r}")
    if not managed:
        flow = read_metadata(name, version_id, models_dir=models_dir).get("promoted_by")
        if flow:
            raise RegistryError(f"model {name!r} {version_id} is promoted with {flow} (it prepares it first)")
    with _locked(folder):
        _set_current(folder, version_id, "promote", _history(folder))


def rollback(name: str, *, models_dir=None, to_none: bool = False) -> str | None:
    """Return CURRENT to the version promoted before it; returns that version.

    ``to_none``: rolling back the first promoted version removes CURRENT (returns None), for models whose
    absence has a meaning (no encoder promoted: the stock one serves).
    """
    folder = model_dir(name, models_dir)
    with _locked(folder):
        events = _history(folder)
        stack = _promoted_stack(events)
        if len(stack) == 1 and to_none and (folder / CURRENT_FILE).exists():
            events = [*events, {"action": "rollback", "version": None,
                                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}]
            _write_atomic(folder / HISTORY_FILE, "".join(json.dumps(e) + "\n" for e in events))
            os.unlink(folder / CURRENT_FILE)
            return None
        if len(stack) < 2:
            raise RegistryError(f"model {name!r} has no previously promoted version to roll back to")
        previous = stack[-2]
        _set_current(folder, previous, "rollback", events)
    return previous


def read_metadata(name: str, version_id: str | None = None, *, models_dir=None) -> dict[str, Any]:
    """Metadata of a version (CURRENT by default)."""
    path = _version_dir(name, version_id, models_dir) / METADATA_FILE
    if not path.is_file():
        raise RegistryError(f"missing {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"corrupt metadata file {path}: {exc}") from exc


def _version_dir(name: str, version_id: str | None, models_dir) -> Path:
    folder = model_dir(name, models_dir)
    if version_id is None:
        version_id = current_version(name, models_dir=models_dir)
        if version_id is None:
            raise RegistryError(f"model {name!r} has no CURRENT version in {folder.parent}")
    path = _inside(folder, check_version(version_id))
    if not path.is_dir():
        raise RegistryError(f"model {name!r} has no version {version_id!r}")
    return path


def model_file(name: str, version_id: str, *, models_dir=None) -> Path:
    """The path of a version's model file (checked to be inside the models folder; it may not exist)."""
    return _inside(_root(models_dir), name, version_id, MODEL_FILE)


def load(name: str, version_id: str | None = None, *, models_dir=None) -> Any:
    """Load a saved model (CURRENT by default), checking its file hash and library versions."""
    path = _version_dir(name, version_id, models_dir)
    meta = read_metadata(name, path.name, models_dir=models_dir)
    model_path = path / MODEL_FILE
    if not model_path.is_file():
        raise RegistryError(f"missing model file {model_path}")
    expected = meta.get("model_sha256")
    if expected and _sha256_file(model_path) != expected:
        raise RegistryError(f"corrupt model file {model_path}: its SHA-256 does not match the metadata")
    saved = meta.get("libraries") or {}
    installed = library_versions()
    diffs = {lib: (saved[lib], installed.get(lib)) for lib in saved if saved[lib] != installed.get(lib)}
    if diffs:
        detail = ", ".join(f"{lib} {old} -> {new}" for lib, (old, new) in sorted(diffs.items()))
        warnings.warn(
            f"model {name} {path.name} was saved with other library versions: {detail}",
            ModelVersionWarning,
            stacklevel=2,
        )
    try:
        return joblib.load(model_path)
    except Exception as exc:
        raise RegistryError(f"corrupt model file {model_path}: {exc}") from exc


def get_challenger(name: str, *, models_dir=None) -> str | None:
    """The version running in shadow beside CURRENT, or None."""
    path = model_dir(name, models_dir) / CHALLENGER_FILE
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").strip()
    return check_version(text) if text else None


def set_challenger(name: str, version_id: str | None, *, models_dir=None) -> str | None:
    """Run a saved version in shadow beside CURRENT (None stops it); returns the challenger."""
    root = model_dir(name, models_dir)
    if version_id is not None:
        check_version(version_id)
        if version_id not in list_versions(name, models_dir=models_dir):
            raise RegistryError(f"model {name!r} has no version {version_id!r}")
    root.mkdir(parents=True, exist_ok=True)
    _write_atomic(root / CHALLENGER_FILE, (version_id or "") + "\n")
    return version_id


def model_names(*, models_dir=None) -> list[str]:
    """Names of the models in the models folder."""
    root = _root(models_dir)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and _NAME_RE.match(p.name)
    )
