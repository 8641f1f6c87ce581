"""SLA policies as data (a configuration record: validated, versioned, audited; calendars are in
calendars.py), the built-in defaults, and policy selection for a ticket.

Built-in defaults (used only while no policy is stored at all; `GET /api/v1/sla/defaults` shows them): on a
24x7 UTC calendar, for incidents, problems and service requests, by priority, ServiceNow-like:

    P1 critical: response 15 min, resolution 4 h
    P2 high:     response 1 h,    resolution 8 h
    P3 moderate: response 4 h,    resolution 3 days (72 h)
    P4 low:      response 8 h,    resolution 5 days (120 h)

warning at 75 %, paused in on_hold, no escalation actions (the audit trail and the sla_warning / sla_breach
events record them; rules can act on those). Changes get no SLA by default. Storing any policy replaces the
defaults entirely, so add a policy without a condition as your own fallback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.errors import InvalidInputError
from itsm_ai.records.spec import CONFIGURATION_ACCESS, RecordSpec, Ref
from itsm_ai.sla.enums import ESCALATION_ACTION_TYPES
from itsm_ai.sla.models import PolicyCreate, PolicyRead, PolicyUpdate, SlaCalendar, SlaPolicy
from itsm_ai.ticket.service import TICKET_SPECS
from itsm_ai.workflow import sla_clock
from itsm_ai.workflow.actions import ActionError, SetField, parse_action
from itsm_ai.workflow.conditions import ConditionError, validate_condition
from itsm_ai.workflow.transitions import TRANSITIONS

STATE_KEYS = ("paused_states", "response_states", "stop_states", "cancel_states")
ACTION_KEYS = ("warning_actions", "breach_actions")
KNOWN_STATES = frozenset(s for rt in TICKET_SPECS for s in TRANSITIONS[rt])
# Fields an escalation may set: what an agent may edit on some ticket type, plus priority (raised directly).
ESCALATION_FIELDS = frozenset(
    {f for spec in TICKET_SPECS.values() for f in spec.update_schema.model_fields} - {"version", "state"}
) | {"priority"}
# Ticket fields behind the derived facts a condition can test.
_FACT_SOURCES = {"caller_organisation": {"caller"}, "service": {"catalog_item", "configuration_items"}}


@dataclass(frozen=True)
class PolicyChoice:
    """A policy a ticket can run on: the stored id (None for defaults) and its snapshot JSON."""

    policy_id: int | None
    name: str
    snapshot: dict[str, Any]


# -- snapshots ----------------------------------------------------------------------------------------------

_core_cache: dict[str, sla_clock.SlaPolicy] = {}


def core_of(snapshot: Mapping[str, Any]) -> sla_clock.SlaPolicy:
    """The pure SlaPolicy of a snapshot (parsed once per distinct snapshot)."""
    key = json.dumps(snapshot["policy"], sort_keys=True, default=str)
    core = _core_cache.get(key)
    if core is None:
        if len(_core_cache) > 512:
            _core_cache.clear()
        core = _core_cache[key] = sla_clock.SlaPolicy.from_json(snapshot["policy"])
    return core


def _snapshot(values: Mapping[str, Any], calendar: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "policy": {
            "name": values["name"],
            "response_target_minutes": values["response_target"],
            "resolution_target_minutes": values["resolution_target"],
            "calendar": dict(calendar) if calendar else None,
            "condition": values.get("condition") or None,
            "warning_percent": values["warning_percent"],
            **{key: list(values[key]) for key in STATE_KEYS},
        },
        **{key: list(values.get(key) or []) for key in ACTION_KEYS},
    }


def _default(priority: int, response: int, resolution: int) -> PolicyChoice:
    values = {
        "name": f"Default P{priority}",
        "response_target": response,
        "resolution_target": resolution,
        "condition": {
            "all": [
                {"field": "record_type", "op": "in", "value": ["incident", "problem", "service_request"]},
                {"field": "priority", "op": "in", "value": [priority]},
            ]
        },
        "warning_percent": 75.0,
        **{key: list(PolicyCreate.model_fields[key].default_factory()) for key in STATE_KEYS},
    }
    return PolicyChoice(None, values["name"], _snapshot(values, None))


DEFAULT_CHOICES = (
    _default(1, 15, 4 * 60),
    _default(2, 60, 8 * 60),
    _default(3, 4 * 60, 3 * 24 * 60),
    _default(4, 8 * 60, 5 * 24 * 60),
)


def choices(*, db_session: Session) -> list[PolicyChoice]:
    """The enabled policies in selection order, or the built-in defaults while none is stored."""
    rows = db_session.scalars(select(SlaPolicy).order_by(SlaPolicy.order, SlaPolicy.id)).all()
    if not rows:
        return list(DEFAULT_CHOICES)
    return [PolicyChoice(r.id, r.name, snapshot_of(r)) for r in rows if r.enabled]


def pick(options: list[PolicyChoice], facts: Mapping[str, Any]) -> PolicyChoice | None:
    """The first matching policy of `options` (in order), else the first fallback, else None."""
    cores = [core_of(c.snapshot) for c in options]
    try:
        chosen = sla_clock.select_policy(facts, cores)
    except sla_clock.NoPolicyError:
        return None
    return next(c for c, core in zip(options, cores, strict=True) if core is chosen)


def _fields_in(condition: Any) -> Iterable[str]:
    if isinstance(condition, Mapping):
        if "field" in condition:
            yield str(condition["field"]).split(".")[0]
        for key in ("all", "any"):
            for item in condition.get(key) or ():
                yield from _fields_in(item)
        if condition.get("not"):
            yield from _fields_in(condition["not"])


def selection_fields(options: Iterable[PolicyChoice]) -> set[str]:
    """Ticket fields whose change can change which policy a ticket gets."""
    out: set[str] = {"priority"}
    for choice in options:
        for name in _fields_in(choice.snapshot["policy"].get("condition")):
            out |= _FACT_SOURCES.get(name, {name})
    return out


# -- policies -----------------------------------------------------------------------------------------------


def _validate_actions(key: str, actions: list[Any]) -> None:
    for index, raw in enumerate(actions):
        path = f"{key}[{index}]"
        kind = raw.get("type") if isinstance(raw, Mapping) else None
        if kind not in ESCALATION_ACTION_TYPES:
            raise InvalidInputError(
                f"{path}.type: escalations use {', '.join(ESCALATION_ACTION_TYPES)}, got {kind!r} "
                "(automation rules can do more on the sla_warning / sla_breach events)",
                field=f"{path}.type",
            )
        try:
            action = parse_action(raw, path=path)
        except ActionError as exc:
            raise InvalidInputError(str(exc), field=exc.path) from None
        if isinstance(action, SetField):
            if action.field not in ESCALATION_FIELDS:
                raise InvalidInputError(
                    f"{path}.field: {action.field!r} is not a ticket field an escalation may set",
                    field=f"{path}.field",
                )
            if action.field == "priority" and action.value not in (1, 2, 3, 4):
                raise InvalidInputError(f"{path}.value: priority must be 1 to 4", field=f"{path}.value")


def _validated_snapshot(db_session: Session, values: dict[str, Any]) -> tuple[SlaCalendar | None, dict]:
    try:
        validate_condition(values.get("condition"), path="condition")
    except ConditionError as exc:
        raise InvalidInputError(str(exc), field=exc.path) from None
    for key in STATE_KEYS:
        for index, state in enumerate(values[key]):
            if state not in KNOWN_STATES:
                raise InvalidInputError(
                    f"{key}[{index}]: {state!r} is not a ticket state", field=f"{key}[{index}]"
                )
    for key in ACTION_KEYS:
        _validate_actions(key, values.get(key) or [])
    calendar = None
    if values.get("calendar"):
        calendar = db_session.scalar(select(SlaCalendar).where(SlaCalendar.name == values["calendar"]))
        if calendar is None:
            raise InvalidInputError(f"calendar: no SLA calendar {values['calendar']!r}", field="calendar")
    snapshot = _snapshot(values, {**calendar.definition, "name": calendar.name} if calendar else None)
    try:
        sla_clock.SlaPolicy.from_json(snapshot["policy"])
    except ValueError as exc:
        message = str(exc)
        field = "paused_states" if "two clock roles" in message else "name"
        for name in ("warning_percent", "response_target", "resolution_target"):
            if name in message:
                field = name
        raise InvalidInputError(f"{field}: {message}", field=field) from None
    return calendar, snapshot


def policy_values(row: SlaPolicy) -> dict[str, Any]:
    """The API field values of a stored policy."""
    return {
        "name": row.name,
        "order": row.order,
        "enabled": row.enabled,
        "condition": row.condition,
        "response_target": row.response_target,
        "resolution_target": row.resolution_target,
        "calendar": row.calendar_ref.name if row.calendar_ref else None,
        "warning_percent": row.warning_percent,
        **{key: list(getattr(row, key)) for key in STATE_KEYS + ACTION_KEYS},
    }


def snapshot_of(row: SlaPolicy) -> dict[str, Any]:
    """The snapshot a ticket's clocks keep of a stored policy."""
    calendar = row.calendar_ref
    return _snapshot(policy_values(row), {**calendar.definition, "name": calendar.name} if calendar else None)


def default_reads() -> list[PolicyRead]:
    """The built-in default policies as the API shows them."""
    out = []
    for choice in DEFAULT_CHOICES:
        p = choice.snapshot["policy"]
        out.append(
            PolicyRead(
                id=None,
                name=p["name"],
                order=0,
                condition=p["condition"],
                response_target=p["response_target_minutes"],
                resolution_target=p["resolution_target_minutes"],
                calendar=None,
                warning_percent=p["warning_percent"],
                **{key: p[key] for key in STATE_KEYS},
            )
        )
    return out


def _validate(values: dict[str, Any], *, db_session: Session, obj: SlaPolicy | None) -> dict[str, Any]:
    """The sent fields, checked as part of the whole policy they make (its snapshot must parse), or 422."""
    if "condition" in values:
        # An empty condition is the fallback, stored as none.
        values = {**values, "condition": values["condition"] or None}
    merged = {**(policy_values(obj) if obj is not None else {}), **values}
    _validated_snapshot(db_session, merged)
    return values


SLA_POLICY = RecordSpec(
    record_type="sla_policy",
    noun="SLA policy",
    path="sla/policies",
    model=SlaPolicy,
    create_schema=PolicyCreate,
    update_schema=PolicyUpdate,
    read_schema=PolicyRead,
    access=CONFIGURATION_ACCESS,
    refs={"calendar": Ref("calendar_id", "calendar_ref", SlaCalendar, "name", "SLA calendar")},
    filters={"name": str, "enabled": bool, "calendar": str},
    range_field=None,
    sort_fields=("order", "name", "id", "created_at", "updated_at"),
    # Selection order: the first match wins.
    default_sort="order",
    search_fields=("name",),
    validate=_validate,
    unique=("name",),
    configuration=True,
)
