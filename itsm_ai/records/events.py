"""In-process domain events of the store: the engine subscribes; the store never imports the engine.

Listeners run inside the writer's transaction, so what they write (SLA clocks, outbox rows, suggestions)
commits or rolls back together with the change that caused it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from itsm_ai.errors import InvalidInputError


@dataclass
class RecordEvent:
    """A record was created, updated or deleted; `changes` holds (field, old, new) for updates."""

    kind: str
    record_type: str
    record: Any
    actor: Any = None
    source: str = "api"
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    depth: int = 0
    # What the preparers computed from the input values before the transaction began (see prepare_create).
    prepared: dict[str, Any] = field(default_factory=dict)

    @property
    def changed_fields(self) -> set[str]:
        """Names of the fields this event changed."""
        return {c[0] for c in self.changes}


Listener = Callable[[Session, RecordEvent], None]
_listeners: list[Listener] = []
# Run on a new record before it is inserted (kind "creating"), so what they set (ML suggestions, auto-applied
# fields) is part of the INSERT and does not cost a second UPDATE and version bump.
_before_create: list[Listener] = []
# Run on a create's input values before its transaction begins, holding no session: the slow, pure part of
# the before-create listeners (embedding, classifying), so no connection or SQLite write lock waits on it.
# Each returns values keyed by its own prefix; the listeners find them in `RecordEvent.prepared`.
Preparer = Callable[[str, dict[str, Any]], dict[str, Any] | None]
_preparers: list[Preparer] = []
# Effects of automation rules that another feature carries out (an approval to ask), by effect kind: that
# feature's handler is wired by the engine like a listener, so the rules never import it.
EffectHandler = Callable[..., None]
_effect_handlers: dict[str, EffectHandler] = {}
_lock = threading.Lock()
_local = threading.local()


def handle_effect(kind: str, handler: EffectHandler) -> None:
    """Name the handler of one kind of rule effect (db_session, record_type, record, effect, reason=)."""
    with _lock:
        _effect_handlers[kind] = handler


def carry_out(db_session: Session, record_type: str, record: Any, effect: Any, *, reason: str) -> None:
    """Carry out a rule effect through the feature that handles its kind (a 422 error when none is wired)."""
    handler = _effect_handlers.get(effect.kind)
    if handler is None:
        raise InvalidInputError(f"actions: nothing carries out {effect.kind} effects here", field="actions")
    handler(db_session, record_type, record, effect, reason=reason)


def subscribe(listener: Listener) -> None:
    """Add a listener (idempotent)."""
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    """Remove a listener if present."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def subscribe_before_create(listener: Listener) -> None:
    """Add a listener that sees new records before their INSERT (idempotent)."""
    with _lock:
        if listener not in _before_create:
            _before_create.append(listener)


def subscribe_prepare(preparer: Preparer) -> None:
    """Add a preparer of new records' input values (idempotent)."""
    with _lock:
        if preparer not in _preparers:
            _preparers.append(preparer)


def prepare_create(record_type: str, values: dict[str, Any]) -> dict[str, Any]:
    """Run every preparer on a create's input values (call it before the session begins)."""
    prepared: dict[str, Any] = {}
    for preparer in list(_preparers):
        prepared.update(preparer(record_type, values) or {})
    return prepared


def publish_before_create(db_session: Session, event: RecordEvent) -> None:
    """Run every before-create listener on a record that has no id yet."""
    event.depth = current_depth()
    for listener in list(_before_create):
        listener(db_session, event)


def current_depth() -> int:
    """How deep in listener-caused writes the current thread is (0 for a user's own write)."""
    return getattr(_local, "depth", 0)


def publish(db_session: Session, event: RecordEvent) -> None:
    """Run every listener for the event, tracking depth so listeners can refuse to loop."""
    event.depth = current_depth()
    _local.depth = event.depth + 1
    try:
        for listener in list(_listeners):
            listener(db_session, event)
    finally:
        _local.depth = event.depth
