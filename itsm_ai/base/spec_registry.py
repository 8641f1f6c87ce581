"""Every record spec by record type: each feature registers the specs it defines; `itsm_ai.all_models` imports
them all and then marks the registry complete, so code asking for every spec never sees half of them."""

from __future__ import annotations

import threading
from typing import Any, Protocol


class Registered(Protocol):
    """What the registry needs of a spec."""

    record_type: str


_specs: dict[str, Any] = {}
_complete = False
_lock = threading.Lock()


def register(spec: Registered) -> None:
    """Add (or replace) the spec of its record type."""
    with _lock:
        _specs[spec.record_type] = spec


def find(record_type: str) -> Any | None:
    """The spec of a record type, or None when no feature defined one."""
    return _specs.get(record_type)


def get(record_type: str) -> Any:
    """The spec of a record type; LookupError naming the known types otherwise."""
    spec = _specs.get(record_type)
    if spec is None:
        raise LookupError(f"no record spec for {record_type!r}; known: {', '.join(sorted(_specs))}")
    return spec


def mark_complete() -> None:
    """Called once every feature's specs are imported (by itsm_ai.all_models)."""
    global _complete
    _complete = True


def all_specs() -> list[Any]:
    """Every registered spec, in registration order; only once the registry is complete."""
    if not _complete:
        raise RuntimeError("the record spec registry is incomplete: import itsm_ai.all_models first")
    return list(_specs.values())
