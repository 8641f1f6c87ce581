"""The triage models as the models API and CLI show them: versions with their held-out scores, CURRENT and
the challenger, and the promote / rollback / challenger actions with registry problems as API errors.

A challenger (an unpromoted version run in shadow beside CURRENT) is kept by the registry;
`serving.shadow` runs it and reports how it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from itsm_ai.errors import AppError, ConflictError, InvalidInputError, NotFoundError
from itsm_ai.registry import store


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
    versions = store.list_versions(name, models_dir=folder)
    if not versions:
        raise NotFoundError(f"model {name} not found")
    current = store.current_version(name, models_dir=folder)
    challenger = store.get_challenger(name, models_dir=folder)
    items = []
    for version in versions:
        try:
            summary = version_summary(store.read_metadata(name, version, models_dir=folder))
        except store.RegistryError as exc:
            summary = {"version": version, "error": str(exc)}
        summary["current"] = version == current
        summary["challenger"] = version == challenger
        items.append(summary)
    return {"name": name, "current": current, "challenger": challenger, "versions": items}


def list_models(*, folder: Path | None = None) -> list[dict[str, Any]]:
    """Every model in the registry with its versions."""
    out = []
    for name in store.model_names(models_dir=folder):
        try:
            out.append(describe_model(name, folder=folder))
        except NotFoundError:
            continue
    return out


# ------------------------------------------------------------------------------------------ API actions


def registry_error(exc: store.RegistryError, *, name: str) -> AppError:
    """Registry problems as API errors: bad names 422, missing things 404, nothing to roll back 409."""
    message = str(exc)
    if message.startswith("invalid model name"):
        return InvalidInputError(f"name: {message}", field="name")
    if message.startswith("invalid version"):
        return InvalidInputError(f"version: {message}", field="version")
    if "no previously promoted version" in message:
        return ConflictError(message, field="version")
    if "has no version" in message or "no CURRENT" in message:
        return NotFoundError(message)
    return ConflictError(f"model {name}: {message}")


@contextmanager
def _registry_errors(name: str, *, must_exist: bool = False) -> Iterator[None]:
    """Registry errors inside become API errors; ``must_exist``: 404 unless the model has versions."""
    try:
        if must_exist and not store.list_versions(name):
            raise NotFoundError(f"model {name} not found")
        yield
    except store.RegistryError as exc:
        raise registry_error(exc, name=name) from exc


def get_model(name: str) -> dict[str, Any]:
    """A model's versions, CURRENT and challenger; API errors for bad or unknown names."""
    with _registry_errors(name):
        return describe_model(name)


def get_version(name: str, version: str) -> dict[str, Any]:
    """One version's metadata with its evaluation report, and whether it is CURRENT or the challenger."""
    with _registry_errors(name):
        meta = store.read_metadata(name, version)
        current = store.current_version(name)
        challenger = store.get_challenger(name)
    return {**meta, "current": version == current, "challenger": version == challenger}


def promote(name: str, version: str) -> dict[str, Any]:
    """Make a version CURRENT; returns the model as `get_model` shows it."""
    with _registry_errors(name):
        store.promote(name, version)
        return describe_model(name)


def rollback(name: str) -> dict[str, Any]:
    """Return CURRENT to the version promoted before it; returns the model."""
    with _registry_errors(name, must_exist=True):
        store.rollback(name)
        return describe_model(name)


def set_challenger(name: str, version: str | None) -> dict[str, Any]:
    """Run a version in shadow beside CURRENT (None stops it); returns the model."""
    with _registry_errors(name, must_exist=True):
        store.set_challenger(name, version)
        return describe_model(name)


@contextmanager
def existing_model(name: str) -> Iterator[None]:
    """404 unless the model has versions; registry errors inside become API errors."""
    with _registry_errors(name, must_exist=True):
        yield
