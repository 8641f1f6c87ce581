"""Admin screens of the console (/console/users, /groups, /sla, /rules, /webhooks, /priority): they read the
store here and make every change through the public JSON API from the page's script (admin.js).

Also the catch-all pages: an unknown /console/* or /portal/* path answers the styled 404 page, not JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.auth import service as auth_service
from itsm_ai.automation.enums import Trigger
from itsm_ai.automation.service import RULE
from itsm_ai.base.levels import Impact, Priority, Urgency
from itsm_ai.base.roles import Role
from itsm_ai.database import DbSession
from itsm_ai.errors import NotFoundError
from itsm_ai.group.service import GROUP
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import RecordSpec
from itsm_ai.sla.calendars import SLA_CALENDAR
from itsm_ai.sla.policies import SLA_POLICY
from itsm_ai.ui import condition_fields, form_choices
from itsm_ai.ui.page_auth import AdminPageUser, MaybeUser, PageRoute
from itsm_ai.ui.rendering import render
from itsm_ai.webhooks import service as webhook_service
from itsm_ai.webhooks.service import WEBHOOK
from itsm_ai.workflow import service as workflow_service
from itsm_ai.workflow.actions import ACTIONS, DEFAULT_WEBHOOK_FIELDS, WEBHOOK_METHODS
from itsm_ai.workflow.effects import CommentVisibility

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PAGE_SIZE = 50
RULE_TYPES = ("incident", "service_request", "problem", "change")
# Fields the actions builder offers for set_field: writable on every rule record type (priority follows impact
# and urgency through the matrix; state moves are transitions); known values where they have them.
SET_FIELDS = ("impact", "urgency", "category", "subcategory")
ADMIN_NAV = (
    ("users", "/console/users", "Users"),
    ("groups", "/console/groups", "Groups"),
    ("sla", "/console/sla", "SLA"),
    ("rules", "/console/rules", "Rules"),
    ("webhooks", "/console/webhooks", "Webhooks"),
    ("priority", "/console/priority", "Priority matrix"),
)


def _all(db_session: Session, spec: RecordSpec, *order: Any, limit: int = 500) -> list[dict[str, Any]]:
    model = spec.model
    stmt = select(model).order_by(*(order or (model.id,))).limit(limit)
    return [record_service.serialize(spec, obj) for obj in db_session.scalars(stmt).unique()]


def _page(request: Request, user: Any, name: str, section: str, **context: Any):
    return render(
        request, f"console/admin/{name}", user, nav="admin", section=section, admin_nav=ADMIN_NAV, **context
    )


@router.get("/console/users")
def admin_users(
    request: Request,
    db_session: DbSession,
    user: AdminPageUser,
    q: Annotated[str | None, Query(max_length=80)] = None,
    role: Role | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    """Users: create, change role and manager, deactivate or reactivate (a page of 50, searchable)."""
    found = auth_service.list_users(db_session=db_session, q=q, role=role, limit=PAGE_SIZE, offset=offset)
    return _page(
        request,
        user,
        "users.html",
        "users",
        users=found["items"],
        total=found["total"],
        offset=offset,
        page_size=PAGE_SIZE,
        q=q or "",
        role=role.value if role else "",
        roles=[r.value for r in Role],
        usernames=auth_service.active_usernames(db_session=db_session),
    )


@router.get("/console/groups")
def admin_groups(request: Request, db_session: DbSession, user: AdminPageUser):
    """Assignment groups and their members."""
    groups = _all(db_session, GROUP, GROUP.model.name)
    usernames = [
        u["username"]
        for u in auth_service.list_users(db_session=db_session, q=None, role=None, limit=1000, offset=0)[
            "items"
        ]
        if u["role"] != Role.requester
    ]
    return _page(request, user, "groups.html", "groups", groups=groups, staff=usernames)


@router.get("/console/sla")
def admin_sla(request: Request, db_session: DbSession, user: AdminPageUser):
    """SLA policies (first match wins, by order) and business-hours calendars."""
    policies = _all(db_session, SLA_POLICY, SLA_POLICY.model.order, SLA_POLICY.model.id)
    calendars = _all(db_session, SLA_CALENDAR, SLA_CALENDAR.model.name)
    return _page(
        request,
        user,
        "sla.html",
        "sla",
        policies=policies,
        calendars=calendars,
        condition_catalog=condition_fields.catalog(db_session=db_session, for_rules=False),
        timezones=condition_fields.time_zones(),
        weekdays=condition_fields.WEEKDAYS,
    )


@router.get("/console/rules")
def admin_rules(request: Request, db_session: DbSession, user: AdminPageUser):
    """Automation rules with enable/disable, a dry run on recent tickets, and a new-rule form with preview."""
    rules = _all(db_session, RULE, RULE.model.order, RULE.model.id)
    return _page(
        request,
        user,
        "rules.html",
        "rules",
        rules=rules,
        triggers=[t.value for t in Trigger],
        record_types=RULE_TYPES,
        condition_catalog=condition_fields.catalog(db_session=db_session, for_rules=True),
        **_action_choices(db_session),
    )


def _action_choices(db_session: Session) -> dict[str, Any]:
    """Known values for the actions builder: every action type the engine accepts and what each picks from."""
    hooks = _all(db_session, WEBHOOK, WEBHOOK.model.name)
    return {
        "action_types": list(ACTIONS),
        "set_fields": SET_FIELDS,
        "groups": form_choices.group_names(db_session=db_session),
        "staff": form_choices.staff_usernames(db_session=db_session),
        "approvers": form_choices.requester_usernames(db_session=db_session),
        "visibilities": [v.value for v in CommentVisibility],
        "webhook_methods": sorted(WEBHOOK_METHODS),
        "webhook_urls": sorted({h["url"] for h in hooks if h.get("url")}),
        "webhook_fields": ", ".join(DEFAULT_WEBHOOK_FIELDS),
    }


@router.get("/console/webhooks")
def admin_webhooks(request: Request, db_session: DbSession, user: AdminPageUser):
    """Webhook subscriptions; each links to its delivery log."""
    hooks = _all(db_session, WEBHOOK, WEBHOOK.model.name)
    return _page(request, user, "webhooks.html", "webhooks", hooks=hooks)


@router.get("/console/webhooks/{ref}")
def admin_webhook(ref: str, request: Request, db_session: DbSession, user: AdminPageUser):
    """One subscription's delivery log, newest first, with redeliver."""
    sub = record_service.get(db_session=db_session, spec=WEBHOOK, ref=ref)
    deliveries = webhook_service.delivery_reads(
        db_session=db_session,
        deliveries=webhook_service.list_deliveries(db_session=db_session, subscription_id=sub.id, limit=100),
    )
    return _page(
        request,
        user,
        "webhook.html",
        "webhooks",
        hook=record_service.serialize(WEBHOOK, sub),
        deliveries=deliveries,
    )


@router.get("/console/priority")
def admin_priority(request: Request, db_session: DbSession, user: AdminPageUser):
    """The impact x urgency -> priority matrix."""
    current = workflow_service.priority_matrix_read(db_session=db_session).model_dump()
    return _page(
        request,
        user,
        "priority.html",
        "priority",
        matrix=current["matrix"],
        version=current["version"],
        impacts=list(Impact),
        urgencies=list(Urgency),
        priorities=list(Priority),
    )


# -- unknown pages: the styled 404 (included last, after every other page router) -----------------------


def _not_found(path: str) -> None:
    raise NotFoundError(f"there is no page at {path}")


@router.get("/console/{rest:path}")
def console_unknown(rest: str, request: Request, user: MaybeUser):
    """Any other /console path: the HTML 404 page."""
    _not_found(request.url.path)


@router.get("/portal/{rest:path}")
def portal_unknown(rest: str, request: Request, user: MaybeUser):
    """Any other /portal path: the HTML 404 page."""
    _not_found(request.url.path)
