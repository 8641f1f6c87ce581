"""The registry as the models API shows it: models, their versions, CURRENT and the challenger.

A challenger (an unpromoted version run in shadow beside CURRENT) is recorded per model in
``<name>/CHALLENGER``; `shadow` runs it and reports how it does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from itsm_ai.classify import registry
from itsm_ai.classify.service import models_dir
from itsm_ai.errors import NotFoundError

CHALLENGER_FILE = "CHALLENGER"


def _model_folder(name: str, folder: Path | None) -> Path:
    return registry._model_dir(name, folder or models_dir())


def get_challenger(name: str, *, folder: Path | None = None) -> str | None:
    """The version running in shadow for a model, or None."""
    path = _model_folder(name, folder) / CHALLENGER_FILE
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").strip()
    return registry._check_version(text) if text else None


def set_challenger(name: str, version: str | None, *, folder: Path | None = None) -> str | None:
    """Run a saved version in shadow beside CURRENT (None stops it); returns the challenger."""
    root = _model_folder(name, folder)
    if version is not None:
        registry._check_version(version)
        if version not in registry.list_versions(name, models_dir=folder or models_dir()):
            raise registry.RegistryError(f"model {name!r} has no version {version!r}")
    root.mkdir(parents=True, exist_ok=True)
    registry._write_atomic(root / CHALLENGER_FILE, (version or "") + "\n")
    return version


def model_names(*, folder: Path | None = None) -> list[str]:
    """Names of the models in the registry folder."""
    root = Path(folder or models_dir())
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and registry._NAME_RE.match(p.name)
    )


def version_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """The few metadata fields a model list shows."""
    evaluation = meta.get("evaluation") or {}
    params = meta.get("params") or {}
    return {
        "version": meta.get("version"),
        "created_at": meta.get("created_at"),
        "target": meta.get("target", meta.get("name")),
        "features": params.get("features"),
        "classes": meta.get("classes"),
        "data": meta.get("data"),
        "source": meta.get("source"),
        "selection_reason": (meta.get("selection") or {}).get("reason"),
        "holdout": {
            key: evaluation.get(key)
            for key in ("n", "accuracy", "macro_f1", "top3_accuracy", "coverage", "precision_at_threshold")
        }
        if evaluation
        else None,
    }


def describe_model(name: str, *, folder: Path | None = None) -> dict[str, Any]:
    """A model's versions (summaries), CURRENT and challenger."""
    root = folder or models_dir()
    versions = registry.list_versions(name, models_dir=root)
    if not versions:
        raise NotFoundError(f"model {name} not found")
    current = registry.current_version(name, models_dir=root)
    challenger = get_challenger(name, folder=root)
    items = []
    for version in versions:
        try:
            summary = version_summary(registry.read_metadata(name, version, models_dir=root))
        except registry.RegistryError as exc:
            summary = {"version": version, "error": str(exc)}
        summary["current"] = version == current
        summary["challenger"] = version == challenger
        items.append(summary)
    return {"name": name, "current": current, "challenger": challenger, "versions": items}


def list_models(*, folder: Path | None = None) -> list[dict[str, Any]]:
    """Every model in the registry with its versions."""
    out = []
    for name in model_names(folder=folder):
        try:
            out.append(describe_model(name, folder=folder))
        except NotFoundError:
            continue
    return out
