"""Ticket specs (incident, problem, change, service request) and the values a ticket derives on write.

The workflow engine attaches its lifecycle check and priority to these specs (`itsm_ai.workflow.ticket_hooks`,
wired by `itsm_ai.all_models`); a write refuses to run without them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from itsm_ai.asset.service import CONFIGURATION_ITEMS
from itsm_ai.auth.models import User
from itsm_ai.base.levels import IMPACT_LABELS, PRIORITY_LABELS, URGENCY_LABELS
from itsm_ai.base.record_types import NUMBER_PREFIXES, RecordType
from itsm_ai.base.roles import ADMINS, EVERYONE, OPENERS, READERS, STAFF, Actor
from itsm_ai.base.states import IncidentState
from itsm_ai.catalog import service as catalog_service
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.comment.service import delete_for as delete_comments
from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.errors import PermissionDeniedError
from itsm_ai.group.models import Group
from itsm_ai.records.spec import Access, RecordSpec, Ref
from itsm_ai.ticket import models as m

# The name under which the workflow engine attaches its hooks (lifecycle, priority) to every ticket spec.
WORKFLOW_HOOKS = "workflow"

TASK_REFS = {
    "assignment_group": Ref("assignment_group_id", "assignment_group_ref", Group, "name", "group"),
    "assigned_to": Ref("assigned_to_id", "assigned_to_ref", User, "username", "user"),
    "caller": Ref("caller_id", "caller_ref", User, "username", "user"),
}
TASK_FILTERS: dict[str, type] = {
    "number": str,
    "state": str,
    "priority": int,
    "impact": int,
    "urgency": int,
    "category": str,
    "subcategory": str,
    "assignment_group": str,
    "assigned_to": str,
    "caller": str,
    "correlation_id": str,
}
TASK_SORTS = ("opened_at", "updated_at", "created_at", "priority", "state", "number", "id", "category")
LABELS = {"impact": IMPACT_LABELS, "urgency": URGENCY_LABELS, "priority": PRIORITY_LABELS}
RESOLVED_STATES = {"resolved", "closed", "cancelled"}
# What `q` searches on tickets, through the full-text index of migration 0015 (which indexes these fields).
FULLTEXT_FIELDS = ("short_description", "description")


def _derive_on_create(obj: Any, *, db_session, actor) -> None:
    now = utcnow()
    obj.opened_at = obj.opened_at or now
    if obj.state == "resolved" and obj.resolved_at is None:
        obj.resolved_at = now
    if obj.state == "closed":
        obj.closed_at = obj.closed_at or now
        obj.resolved_at = obj.resolved_at or obj.closed_at


def _derive_on_update(
    obj: Any, *, db_session, previous: dict[str, Any], changes, actor
) -> list[tuple[str, Any, Any]]:
    """Values that follow from a change: state timestamps, reopen and reassignment counts."""
    derived: list[tuple[str, Any, Any]] = []

    def put(field: str, value: Any) -> None:
        old = getattr(obj, field)
        if old != value:
            setattr(obj, field, value)
            derived.append((field, old, value))

    changed = {c[0] for c in changes}
    if "state" in changed:
        old_state, now = previous.get("state"), utcnow()
        if obj.state == "resolved":
            put("resolved_at", obj.resolved_at or now)
        elif obj.state == "closed":
            put("resolved_at", obj.resolved_at or now)
            put("closed_at", now)
        elif old_state in RESOLVED_STATES and obj.state not in RESOLVED_STATES:
            put("resolved_at", None)
            put("closed_at", None)
            if hasattr(obj, "reopen_count"):
                put("reopen_count", (obj.reopen_count or 0) + 1)
        if hasattr(obj, "on_hold_reason") and obj.state != IncidentState.on_hold and obj.on_hold_reason:
            put("on_hold_reason", None)
    if (
        "assignment_group" in changed
        and previous.get("assignment_group")
        and hasattr(obj, "reassignment_count")
    ):
        put("reassignment_count", (obj.reassignment_count or 0) + 1)
    return derived


REQUESTER_LOCKED_FIELDS = (
    "assignment_group",
    "assigned_to",
    "resolution_code",
    "resolution_notes",
    "opened_at",
    "correlation_id",
    "problem",
    "duplicate_of",
    "fix_shareable",
)


def _requester_creates_for_self(user: Actor, data: dict[str, Any], schema) -> None:
    """Requesters open tickets for themselves and cannot pre-set triage or workflow fields."""
    caller = data.get("caller")
    if caller not in (None, user.username):
        raise PermissionDeniedError("caller: requesters open tickets only for themselves", field="caller")
    data["caller"] = user.username
    for field in REQUESTER_LOCKED_FIELDS:
        value = data.get(field)
        if value is not None and value is not False:  # False: the default of the fix_shareable flag
            raise PermissionDeniedError(f"{field}: requesters may not set this field", field=field)
    if "state" in data and data["state"] != schema.model_fields["state"].default:
        raise PermissionDeniedError("state: requesters may not set this field", field="state")
    settings = get_settings()
    if not settings.requester_may_set_critical:
        for field in ("impact", "urgency"):
            if data.get(field) == 1:
                raise PermissionDeniedError(
                    f"{field}: requesters may not set {field} to 1 (high); the service desk sets it",
                    field=field,
                )
    if not settings.requester_may_set_category:
        for field in ("category", "subcategory"):
            if data.get(field) is not None:
                raise PermissionDeniedError(f"{field}: requesters may not set this field", field=field)
    extra = data.get("extra") or {}
    unknown = sorted(set(extra) - set(settings.requester_extra_keys))
    if unknown:
        raise PermissionDeniedError(
            f"extra: requesters may not set {', '.join(map(repr, unknown))} (allowed keys: "
            f"{', '.join(settings.requester_extra_keys) or 'none'})",
            field="extra",
        )


def _derive_request_on_create(obj: Any, *, db_session, actor) -> None:
    _derive_on_create(obj, db_session=db_session, actor=actor)
    if not obj.short_description and obj.catalog_item_id is not None:
        obj.short_description = db_session.get(CatalogItem, obj.catalog_item_id).name
    obj.short_description = obj.short_description or "Service request"


def _validate_request(values: dict[str, Any], *, db_session, obj) -> dict[str, Any]:
    """A request's answers (`variables`) checked against its catalog item's questions, on create and on a
    change of the answers; a request without an item keeps free-form answers."""
    if obj is None:
        name = values.get("catalog_item")
        item = db_session.scalar(select(CatalogItem).where(CatalogItem.name == name)) if name else None
    elif "variables" in values:
        item = obj.catalog_item_ref
    else:
        return values
    if item is not None:
        answers = catalog_service.check_answers(questions=item.variables, answers=values.get("variables"))
        values["variables"] = answers or None
    return values


def _ticket_spec(
    record_type: RecordType, path: str, noun: str, model, create, update, read, access, **kw
) -> RecordSpec:
    refs = dict(TASK_REFS)
    refs.update(kw.pop("refs", {}))
    filters = dict(TASK_FILTERS)
    filters.update(kw.pop("filters", {}))
    return RecordSpec(
        record_type=str(record_type),
        noun=noun,
        path=path,
        model=model,
        create_schema=create,
        update_schema=update,
        read_schema=read,
        access=access,
        prefix=NUMBER_PREFIXES[record_type],
        refs=refs,
        filters=filters,
        range_field="opened_at",
        sort_fields=TASK_SORTS,
        default_sort="-opened_at",
        search_fields=FULLTEXT_FIELDS,
        fulltext=True,
        links={"configuration_items": CONFIGURATION_ITEMS},
        labels=LABELS,
        on_create=kw.pop("on_create", _derive_on_create),
        on_update=_derive_on_update,
        on_delete=delete_comments,
        requires_hooks=(WORKFLOW_HOOKS,),
        **kw,
    )


INCIDENT = _ticket_spec(
    RecordType.incident,
    "incidents",
    "incident",
    m.Incident,
    m.IncidentCreate,
    m.IncidentUpdate,
    m.IncidentRead,
    Access(create=OPENERS, read=EVERYONE, update=STAFF, delete=ADMINS, owner_attr="caller_id"),
    refs={
        "problem": Ref("problem_id", "problem_ref", m.Problem, "number", "problem"),
        "duplicate_of": Ref("duplicate_of_id", "duplicate_of_ref", m.Incident, "number", "incident"),
    },
    filters={"problem": str, "duplicate_of": str},
    requester_create_filter=_requester_creates_for_self,
)
PROBLEM = _ticket_spec(
    RecordType.problem,
    "problems",
    "problem",
    m.Problem,
    m.ProblemCreate,
    m.ProblemUpdate,
    m.ProblemRead,
    Access(create=STAFF, read=READERS, update=STAFF, delete=ADMINS),
)
CHANGE = _ticket_spec(
    RecordType.change,
    "changes",
    "change",
    m.Change,
    m.ChangeCreate,
    m.ChangeUpdate,
    m.ChangeRead,
    Access(create=STAFF, read=READERS, update=STAFF, delete=ADMINS),
    filters={"change_type": str},
)
SERVICE_REQUEST = _ticket_spec(
    RecordType.service_request,
    "requests",
    "service request",
    m.ServiceRequest,
    m.ServiceRequestCreate,
    m.ServiceRequestUpdate,
    m.ServiceRequestRead,
    Access(create=OPENERS, read=EVERYONE, update=STAFF, delete=ADMINS, owner_attr="caller_id"),
    refs={
        "catalog_item": Ref(
            "catalog_item_id", "catalog_item_ref", CatalogItem, "name", "catalog item", active_attr="active"
        )
    },
    filters={"catalog_item": str},
    requester_create_filter=_requester_creates_for_self,
    on_create=_derive_request_on_create,
    validate=_validate_request,
)

TICKET_SPECS = {s.record_type: s for s in (INCIDENT, PROBLEM, CHANGE, SERVICE_REQUEST)}
