"""SLA business calendars as data: validated BusinessCalendar JSON with a name, versioned and audited.

Policies refer to a calendar by name; a ticket's clocks keep the calendar their policy snapshot had, so
changing a calendar applies to clocks (re)selected afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.audit import service as audit_service
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.sla.models import CalendarCreate, CalendarRead, CalendarUpdate, SlaCalendar, SlaPolicy
from itsm_ai.workflow.calendar import BusinessCalendar


def _calendar_field(message: str) -> tuple[str, str]:
    if message.startswith("calendar.hours."):
        field, _, detail = message.partition(": ")
        return field.removeprefix("calendar."), detail
    if message.startswith("holidays:"):
        return ("subdiv" if "subdivision" in message else "country"), message.removeprefix("holidays: ")
    for name in ("timezone", "subdiv", "extra_holidays"):
        if name in message:
            return name, message
    return "hours", message.removeprefix("calendar.hours ")


def _calendar_definition(values: Mapping[str, Any]) -> dict[str, Any]:
    obj = {
        "timezone": values.get("timezone") or "UTC",
        "hours": values.get("hours"),
        "country": values.get("country") or None,
        "subdiv": values.get("subdiv") or None,
        "extra_holidays": [d.isoformat() for d in values.get("extra_holidays") or ()],
    }
    try:
        definition = BusinessCalendar.from_json(obj).to_json()
    except ValueError as exc:
        field, detail = _calendar_field(str(exc))
        raise InvalidInputError(f"{field}: {detail}", field=field) from None
    definition.pop("name", None)
    return definition


def calendar_read(row: SlaCalendar) -> CalendarRead:
    """The API view of a stored calendar."""
    d = row.definition
    return CalendarRead(
        id=row.id,
        name=row.name,
        timezone=d["timezone"],
        hours=d.get("hours"),
        country=d.get("country"),
        subdiv=d.get("subdiv"),
        extra_holidays=d.get("extra_holidays") or [],
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def by_ref(db_session: Session, model, ref: str | int, noun: str):
    """A named config row by id or name, or NotFoundError."""
    text = str(ref).strip()
    row = db_session.get(model, int(text)) if text.isdigit() else None
    if row is None:
        row = db_session.scalar(select(model).where(model.name == text))
    if row is None:
        raise NotFoundError(f"{noun} {text} not found")
    return row


def get_calendar(*, db_session: Session, ref: str | int) -> SlaCalendar:
    """A calendar by id or name, or NotFoundError."""
    return by_ref(db_session, SlaCalendar, ref, "SLA calendar")


def list_calendars(*, db_session: Session) -> list[SlaCalendar]:
    """Every calendar by name."""
    return list(db_session.scalars(select(SlaCalendar).order_by(SlaCalendar.name)))


def unique_name(db_session: Session, model, name: str, noun: str, own_id: int | None = None) -> None:
    """409 naming `name` when another row has this name."""
    other = db_session.scalar(select(model.id).where(model.name == name))
    if other is not None and other != own_id:
        raise ConflictError(f"name: an {noun} named {name!r} already exists", field="name")


def check_version(row, version: int, noun: str) -> None:
    """409 naming `version` when the caller read an older version."""
    if version != row.version:
        raise ConflictError(
            f"{noun} {row.name} was changed by someone else (current version {row.version}, you sent "
            f"{version}); reload and retry",
            field="version",
            details={"current_version": row.version},
        )


def create_calendar(*, db_session: Session, calendar_in: CalendarCreate, actor) -> SlaCalendar:
    """Store a validated calendar."""
    unique_name(db_session, SlaCalendar, calendar_in.name, "SLA calendar")
    row = SlaCalendar(name=calendar_in.name, definition=_calendar_definition(calendar_in.model_dump()))
    db_session.add(row)
    db_session.flush()
    audit_service.record_create(
        db_session=db_session,
        record_type="sla_calendar",
        record_id=row.id,
        actor=actor,
        values={"name": row.name, "definition": row.definition},
    )
    return row


def update_calendar(
    *, db_session: Session, row: SlaCalendar, update_in: CalendarUpdate, actor
) -> SlaCalendar:
    """Change a calendar; running clocks keep the calendar their policy snapshot has."""
    check_version(row, update_in.version, "SLA calendar")
    data = update_in.model_dump(exclude_unset=True, exclude={"version"})
    changes = []
    if "name" in data and data["name"] is not None and data["name"] != row.name:
        unique_name(db_session, SlaCalendar, data["name"], "SLA calendar", row.id)
        changes.append(("name", row.name, data["name"]))
        row.name = data["name"]
    merged = {**calendar_read(row).model_dump(), **{k: v for k, v in data.items() if k != "name"}}
    definition = _calendar_definition(merged)
    if definition != row.definition:
        changes.append(("definition", row.definition, definition))
        row.definition = definition
    if changes:
        db_session.flush()
        audit_service.record_changes(
            db_session=db_session, record_type="sla_calendar", record_id=row.id, actor=actor, changes=changes
        )
    return row


def delete_calendar(*, db_session: Session, row: SlaCalendar, actor) -> None:
    """Delete a calendar no policy uses (409 naming the policies otherwise)."""
    users = list(db_session.scalars(select(SlaPolicy.name).where(SlaPolicy.calendar_id == row.id)))
    if users:
        raise ConflictError(f"SLA calendar {row.name} is used by the policies {users}; change them first")
    audit_service.record_event(
        db_session=db_session,
        record_type="sla_calendar",
        record_id=row.id,
        actor=actor,
        action="delete",
        old=row.name,
    )
    db_session.delete(row)
    db_session.flush()
