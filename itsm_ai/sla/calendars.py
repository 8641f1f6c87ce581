"""SLA business calendars as data: a configuration record whose fields are validated BusinessCalendar JSON.

Policies refer to a calendar by name; a ticket's clocks keep the calendar their policy snapshot had, so
changing a calendar applies to clocks (re)selected afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.errors import ConflictError, InvalidInputError
from itsm_ai.records.spec import CONFIGURATION_ACCESS, RecordSpec
from itsm_ai.sla.models import CalendarCreate, CalendarRead, CalendarUpdate, SlaCalendar, SlaPolicy
from itsm_ai.workflow.business_calendar import BusinessCalendar

# The calendar's fields, each a key of its BusinessCalendar JSON.
DEFINITION_FIELDS = ("timezone", "hours", "country", "subdiv", "extra_holidays")


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
        "extra_holidays": [str(d) for d in values.get("extra_holidays") or ()],
    }
    try:
        definition = BusinessCalendar.from_json(obj).to_json()
    except ValueError as exc:
        field, detail = _calendar_field(str(exc))
        raise InvalidInputError(f"{field}: {detail}", field=field) from None
    definition.pop("name", None)
    return definition


def _validate(values: dict[str, Any], *, db_session: Session, obj: SlaCalendar | None) -> dict[str, Any]:
    """The sent fields normalised through BusinessCalendar (the whole calendar must be valid), or 422."""
    current = {name: getattr(obj, name) for name in DEFINITION_FIELDS} if obj is not None else {}
    definition = _calendar_definition({**current, **values})
    sent = DEFINITION_FIELDS if obj is None else [name for name in DEFINITION_FIELDS if name in values]
    return {**values, **{name: definition.get(name) for name in sent}}


def _refuse_if_used(row: SlaCalendar, *, db_session: Session, spec: RecordSpec, actor) -> None:
    """A calendar a policy uses cannot go (409 naming the policies)."""
    users = list(db_session.scalars(select(SlaPolicy.name).where(SlaPolicy.calendar_id == row.id)))
    if users:
        raise ConflictError(f"SLA calendar {row.name} is used by the policies {users}; change them first")


SLA_CALENDAR = RecordSpec(
    record_type="sla_calendar",
    noun="SLA calendar",
    path="sla/calendars",
    model=SlaCalendar,
    create_schema=CalendarCreate,
    update_schema=CalendarUpdate,
    read_schema=CalendarRead,
    access=CONFIGURATION_ACCESS,
    filters={"name": str},
    range_field=None,
    sort_fields=("name", "id", "created_at", "updated_at"),
    default_sort="name",
    search_fields=("name",),
    on_delete=_refuse_if_used,
    validate=_validate,
    unique=("name",),
    configuration=True,
)
