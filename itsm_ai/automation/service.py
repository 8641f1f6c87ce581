"""Rules as configuration records: validation naming the exact bad path (`actions[1].url`), enable/disable."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from itsm_ai.auth import service as user_service
from itsm_ai.automation.enums import Trigger
from itsm_ai.automation.models import Rule, RuleCreate, RuleRead, RuleUpdate
from itsm_ai.automation.schedule import ScheduleError, parse_schedule
from itsm_ai.database import utcnow
from itsm_ai.errors import InvalidInputError
from itsm_ai.group import service as group_service
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import CONFIGURATION_ACCESS, RecordSpec
from itsm_ai.ticket.models import ProblemCreate
from itsm_ai.ticket.service import INCIDENT, TICKET_SPECS
from itsm_ai.webhooks.service import check_target
from itsm_ai.workflow.actions import (
    Action,
    ActionError,
    AssignGroup,
    AssignUser,
    CreateLinkedProblem,
    NotifyWebhook,
    RequestApproval,
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
    elif isinstance(action, NotifyWebhook):
        check_target(action.url, field=f"{path}.url")
    elif isinstance(action, AssignGroup):
        _check_ref(db_session, spec, "assignment_group", action.group, f"{path}.group")
    elif isinstance(action, AssignUser):
        _check_ref(db_session, spec, "assigned_to", action.user, f"{path}.user")
    elif isinstance(action, RequestApproval):
        if spec.record_type not in RequestApproval.RECORD_TYPES:
            kinds = " and ".join(t.replace("_", " ") + "s" for t in RequestApproval.RECORD_TYPES)
            raise _invalid(f"{path}.type", f"only {kinds} take approvals, not {spec.noun} records")
        if action.user is not None:
            user = user_service.get_by_username(db_session=db_session, username=action.user)
            if user is None:
                raise _invalid(f"{path}.user", f"no user {action.user!r}")
            if not user.active:
                raise _invalid(f"{path}.user", f"{action.user} is deactivated and could never decide")
        elif group_service.get_by_name(db_session=db_session, name=action.group) is None:
            raise _invalid(f"{path}.group", f"no group {action.group!r}")
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


def _shown(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in FIELDS}


def _validate(values: dict[str, Any], *, db_session: Session, obj: Rule | None) -> dict[str, Any]:
    """The sent fields, checked and normalised as part of the whole rule they make, or 422 naming the path."""
    if obj is None:
        return validate(db_session=db_session, data=values)
    if set(values) <= {"enabled"}:
        # Switching a rule on or off checks nothing else (as it always did): the switch is idempotent.
        return values
    merged = {**_shown(obj), **values}
    sent = dict(values)
    if "trigger" in values and values["trigger"] != Trigger.scheduled and "schedule" not in values:
        # Leaving "scheduled" drops the schedule that only it used.
        merged["schedule"] = sent["schedule"] = None
    data = validate(db_session=db_session, data=merged)
    return {name: data[name] for name in sent}


def _on_create(rule: Rule, *, db_session: Session, actor) -> None:
    rule.created_by_id = actor.id if actor else None
    # An `after` schedule looks only at anchors passing from now on, never at the backlog.
    rule.scheduled_through = utcnow()


def _on_update(rule: Rule, *, db_session: Session, previous, changes, actor) -> list:
    changed = {c[0] for c in changes}
    if changed & {"schedule", "trigger"} or ("enabled" in changed and rule.enabled):
        # The scheduler's bookkeeping (never audited) restarts from now, as for a new rule.
        rule.last_window = None
        rule.scheduled_through = utcnow()
    return []


RULE = RecordSpec(
    record_type=AUDIT_TYPE,
    noun="rule",
    path="rules",
    model=Rule,
    create_schema=RuleCreate,
    update_schema=RuleUpdate,
    read_schema=RuleRead,
    access=CONFIGURATION_ACCESS,
    filters={"record_type": str, "trigger": Trigger, "enabled": bool, "name": str},
    range_field=None,
    sort_fields=("record_type", "order", "name", "id", "created_at", "updated_at"),
    # The order rules run in.
    default_sort="record_type,order",
    search_fields=("name", "description"),
    on_create=_on_create,
    on_update=_on_update,
    validate=_validate,
    unique=("name",),
    configuration=True,
)


def set_enabled(*, db_session: Session, rule: Rule, enabled: bool, actor) -> Rule:
    """Switch a rule on or off (no version needed: the switch is idempotent)."""
    data = {"version": rule.version, "enabled": enabled}
    return record_service.update(db_session=db_session, spec=RULE, obj=rule, data=data, actor=actor)


def rule_values(rule: Rule) -> dict[str, Any]:
    """The fields a rule was written with (what a dry run evaluates)."""
    return _shown(rule)


def problem_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The planned fields of a linked problem that a problem can be created with."""
    allowed = set(ProblemCreate.model_fields)
    return {k: v for k, v in fields.items() if k in allowed}
