"""The workflow engine on every ticket write: lifecycle check and priority, attached to the ticket specs.

The store and the ticket records never import the engine: `install()` (run by `itsm_ai.all_models`) attaches
these hooks, and a ticket write refuses to run without them.
"""

from __future__ import annotations

from typing import Any

from itsm_ai.ticket.service import TICKET_SPECS, WORKFLOW_HOOKS
from itsm_ai.workflow.service import compute_priority, enforce_transition


def on_create(obj: Any, *, db_session, actor) -> None:
    """A new ticket starts in a state its lifecycle allows, with the priority its impact and urgency give."""
    enforce_transition(record_type=obj.record_type, from_state=None, obj=obj)
    obj.priority = compute_priority(db_session=db_session, impact=obj.impact or 3, urgency=obj.urgency or 3)


def on_update(
    obj: Any, *, db_session, previous: dict[str, Any], changes, actor
) -> list[tuple[str, Any, Any]]:
    """A changed impact or urgency recomputes the priority; a state change must follow the lifecycle."""
    derived: list[tuple[str, Any, Any]] = []
    changed = {c[0] for c in changes}
    if changed & {"impact", "urgency"}:
        priority = compute_priority(db_session=db_session, impact=obj.impact, urgency=obj.urgency)
        if priority != obj.priority:
            derived.append(("priority", obj.priority, priority))
            obj.priority = priority
    if "state" in changed:
        enforce_transition(record_type=obj.record_type, from_state=previous.get("state"), obj=obj)
    return derived


def install() -> None:
    """Attach the hooks to every ticket spec (idempotent)."""
    for spec in TICKET_SPECS.values():
        spec.hooks.attach(WORKFLOW_HOOKS, on_create=on_create, on_update=on_update)
