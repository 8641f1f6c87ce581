"""Writing and reading the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.audit.models import AuditEvent, AuditEventRead
from itsm_ai.database import utcnow


def to_text(value: Any) -> str | None:
    """Render a field value for the audit trail (None stays None)."""
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _actor(actor) -> tuple[int | None, str | None]:
    if actor is None:
        return None, "system"
    return actor.id, actor.username


def record_create(
    *,
    db_session: Session,
    record_type: str,
    record_id: int,
    actor,
    values: Mapping[str, Any],
    source: str = "api",
    action: str = "create",
) -> None:
    """Audit a new record with its initial values."""
    actor_id, actor_name = _actor(actor)
    shown = {k: to_text(v) for k, v in values.items() if v is not None and k != "password"}
    db_session.add(
        AuditEvent(
            record_type=record_type,
            record_id=record_id,
            action=action,
            new_value=json.dumps(shown, sort_keys=True),
            actor_id=actor_id,
            actor_name=actor_name,
            source=source,
            at=utcnow(),
        )
    )


def record_changes(
    *,
    db_session: Session,
    record_type: str,
    record_id: int,
    actor,
    changes: Iterable[tuple[str, Any, Any]],
    source: str = "api",
    action: str = "update",
    internal: bool = False,
) -> None:
    """Audit field changes as (field, old, new), one event each."""
    actor_id, actor_name = _actor(actor)
    now = utcnow()
    for field, old, new in changes:
        db_session.add(
            AuditEvent(
                record_type=record_type,
                record_id=record_id,
                action=action,
                field=field,
                old_value=to_text(old),
                new_value=to_text(new),
                actor_id=actor_id,
                actor_name=actor_name,
                source=source,
                internal=internal,
                at=now,
            )
        )


def record_event(
    *,
    db_session: Session,
    record_type: str,
    record_id: int,
    actor,
    action: str,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    source: str = "api",
    internal: bool = False,
    at: datetime | None = None,
) -> None:
    """Audit a single event (delete, comment, workflow step)."""
    actor_id, actor_name = _actor(actor)
    db_session.add(
        AuditEvent(
            record_type=record_type,
            record_id=record_id,
            action=action,
            field=field,
            old_value=to_text(old),
            new_value=to_text(new),
            actor_id=actor_id,
            actor_name=actor_name,
            source=source,
            internal=internal,
            at=at or utcnow(),
        )
    )


def list_for(
    *, db_session: Session, record_type: str, record_id: int, include_internal: bool = True
) -> list[AuditEventRead]:
    """The audit trail of one record, oldest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.record_type == record_type, AuditEvent.record_id == record_id)
        .order_by(AuditEvent.id)
    )
    if not include_internal:
        stmt = stmt.where(AuditEvent.internal.is_(False))
    return [
        AuditEventRead.model_validate(e).model_copy(update={"actor": e.actor_name})
        for e in db_session.scalars(stmt)
    ]
