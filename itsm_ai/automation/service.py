"""Storing rules: validation that names the exact bad path (`actions[1].url`), CRUD, enable/disable."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.audit import service as audit_service
from itsm_ai.automation.enums import Trigger
from itsm_ai.automation.models import Rule, RuleCreate, RuleUpdate
from itsm_ai.automation.schedule import ScheduleError, parse_schedule
from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.records import service as record_service
from itsm_ai.ticket.models import ProblemCreate
from itsm_ai.ticket.service import INCIDENT, TICKET_SPECS
from itsm_ai.workflow.actions import (
    Action,
    ActionError,
    AssignGroup,
    AssignUser,
    CreateLinkedProblem,
    SetField,
    parse_action,
)
from itsm_ai.workflow.conditions import ConditionError, validate_condition

AUDIT_TYPE = "automation_rule"
FIELDS = tuple(RuleCreate.model_fields)


def _invalid(path: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"{path}: {message}", field=path)


def _check_ref(db_session: Session, spec, field: str, value: Any, path: str) -> None:
    try:
        record_service.resolve_ref(db_session=db_session, spec=spec, field=field, value=value)
    except InvalidInputError as exc:
        raise _invalid(path, exc.message.split(": ", 1)[-1]) from None


def _check_action(db_session: Session, spec, action: Action, raw: Any, path: str) -> None:
    """Checks that need the record type or the database (the pure parser checked the shape)."""
    if isinstance(action, SetField):
        writable = set(spec.update_schema.model_fields) - {"version"}
        if action.field not in writable:
            raise _invalid(f"{path}.field", f"{spec.noun} records have no writable field {action.field!r}")
        try:
            spec.update_schema.model_validate({"version": 1, action.field: action.value})
        except ValidationError as exc:
            raise _invalid(f"{path}.value", exc.errors()[0]["msg"]) from None
        if action.field in spec.refs and action.value is not None:
            _check_ref(db_session, spec, action.field, action.value, f"{path}.value")
    elif isinstance(action, AssignGroup):
        _check_ref(db_session, spec, "assignment_group", action.group, f"{path}.group")
    elif isinstance(action, AssignUser):
        _check_ref(db_session, spec, "assigned_to", action.user, f"{path}.user")
    elif isinstance(action, CreateLinkedProblem):
        if spec is not INCIDENT:
            raise _invalid(f"{path}.type", "only incidents can be linked to a problem")
        readable = set(spec.read_schema.model_fields)
        # The default list names fields of any ticket type; only a list the author wrote must fit incidents.
        for index, name in enumerate(action.copy_fields if "copy_fields" in raw else ()):
            if name not in readable:
                raise _invalid(f"{path}.copy_fields[{index}]", f"incidents have no field {name!r}")


def validate(*, db_session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """A full rule body checked and normalised (actions with their defaults), or 422 naming the path."""
    out = dict(data)
    spec = TICKET_SPECS.get(out["record_type"])
    if spec is None:
        raise _invalid("record_type", f"must be one of {', '.join(TICKET_SPECS)}, got {out['record_type']!r}")
    trigger = Trigger(out["trigger"])
    out["trigger"] = trigger
    try:
        validate_condition(out.get("conditions"), path="conditions")
    except ConditionError as exc:
        raise _invalid(exc.path, exc.message) from None
    actions = out.get("actions")
    if not isinstance(actions, list) or not actions:
        raise _invalid("actions", "must be a non-empty list of actions")
    normalised = []
    for index, obj in enumerate(actions):
        path = f"actions[{index}]"
        try:
            action = parse_action(obj, path=path)
        except ActionError as exc:
            raise _invalid(exc.path, exc.message) from None
        _check_action(db_session, spec, action, obj, path)
        normalised.append(action.to_json())
    out["actions"] = normalised
    if trigger == Trigger.scheduled:
        if out.get("schedule") is None:
            raise _invalid("schedule", 'is required for trigger "scheduled"')
        try:
            out["schedule"] = parse_schedule(out["schedule"]).to_json()
        except ScheduleError as exc:
            raise _invalid(exc.path, exc.message) from None
    elif out.get("schedule") is not None:
        raise _invalid("schedule", 'only applies to trigger "scheduled"')
    return out


def get(*, db_session: Session, rule_id: int) -> Rule:
    """The rule with this id, or NotFoundError."""
    rule = db_session.get(Rule, rule_id)
    if rule is None:
        raise NotFoundError(f"rule {rule_id} not found")
    return rule


def list_rules(
    *,
    db_session: Session,
    record_type: str | None = None,
    trigger: str | None = None,
    enabled: bool | None = None,
) -> list[Rule]:
    """Rules in the order they run (record type, order, id), optionally filtered."""
    stmt = select(Rule).order_by(Rule.record_type, Rule.order, Rule.id)
    if record_type is not None:
        stmt = stmt.where(Rule.record_type == record_type)
    if trigger is not None:
        stmt = stmt.where(Rule.trigger == trigger)
    if enabled is not None:
        stmt = stmt.where(Rule.enabled.is_(enabled))
    return list(db_session.scalars(stmt))


def _name_taken(db_session: Session, name: str, rule_id: int | None = None) -> None:
    other = db_session.scalar(select(Rule.id).where(Rule.name == name))
    if other is not None and other != rule_id:
        raise ConflictError(f"name: a rule named {name!r} already exists", field="name")


def _shown(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in FIELDS}


def create(*, db_session: Session, rule_in: RuleCreate, actor) -> Rule:
    """Validate and store a new rule (audited)."""
    data = validate(db_session=db_session, data=rule_in.model_dump())
    _name_taken(db_session, data["name"])
    rule = Rule(**data, created_by_id=actor.id if actor else None)
    # An `after` schedule looks only at anchors passing from now on, never at the backlog.
    rule.scheduled_through = utcnow()
    db_session.add(rule)
    db_session.flush()
    audit_service.record_create(
        db_session=db_session, record_type=AUDIT_TYPE, record_id=rule.id, actor=actor, values=_shown(rule)
    )
    return rule


def _apply(db_session: Session, rule: Rule, values: dict[str, Any], actor) -> Rule:
    changes = [(k, getattr(rule, k), v) for k, v in values.items() if getattr(rule, k) != v]
    if not changes:
        return rule
    for field, _old, new in changes:
        setattr(rule, field, new)
    changed = {c[0] for c in changes}
    if changed & {"schedule", "trigger"} or ("enabled" in changed and rule.enabled):
        rule.last_window = None
        rule.scheduled_through = utcnow()
    db_session.flush()
    audit_service.record_changes(
        db_session=db_session, record_type=AUDIT_TYPE, record_id=rule.id, actor=actor, changes=changes
    )
    return rule


def _check_version(rule: Rule, version: int) -> None:
    if version != rule.version:
        raise ConflictError(
            f"rule {rule.id} was changed by someone else "
            f"(current version {rule.version}, you sent {version}); reload and retry",
            field="version",
            details={"current_version": rule.version},
        )


def update(*, db_session: Session, rule: Rule, rule_in: RuleUpdate, actor) -> Rule:
    """Apply a partial update carrying the version that was read; the merged rule is validated whole."""
    _check_version(rule, rule_in.version)
    sent = rule_in.model_dump(exclude_unset=True, exclude={"version"})
    for key in ("name", "record_type", "trigger", "actions", "order", "stop_processing", "enabled"):
        if key in sent and sent[key] is None:
            raise _invalid(key, "cannot be null")
    merged = {**_shown(rule), **sent}
    if "trigger" in sent and sent["trigger"] != Trigger.scheduled and "schedule" not in sent:
        merged["schedule"] = None
    data = validate(db_session=db_session, data=merged)
    _name_taken(db_session, data["name"], rule.id)
    return _apply(db_session, rule, data, actor)


def set_enabled(*, db_session: Session, rule: Rule, enabled: bool, actor) -> Rule:
    """Switch a rule on or off (no version needed: the switch is idempotent)."""
    return _apply(db_session, rule, {"enabled": enabled}, actor)


def delete(*, db_session: Session, rule: Rule, actor) -> None:
    """Delete a rule; its audit trail stays."""
    audit_service.record_event(
        db_session=db_session,
        record_type=AUDIT_TYPE,
        record_id=rule.id,
        actor=actor,
        action="delete",
        old=rule.name,
    )
    db_session.delete(rule)
    db_session.flush()


def problem_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The planned fields of a linked problem that a problem can be created with."""
    allowed = set(ProblemCreate.model_fields)
    return {k: v for k, v in fields.items() if k in allowed}
