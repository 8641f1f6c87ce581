"""The agent console (/console): work queue, ticket triage and knowledge review (models: `model_ops`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from itsm_ai.base.roles import STAFF
from itsm_ai.database import DbSession
from itsm_ai.knowledge.article.service import ARTICLE
from itsm_ai.records import service as record_service
from itsm_ai.sla import service as sla_service
from itsm_ai.ticket.enums import ResolutionCode
from itsm_ai.ui import service
from itsm_ai.ui.api_routes import has_route
from itsm_ai.ui.mail_pages import ticket_files
from itsm_ai.ui.page_auth import ConsoleUser, PageRoute, StaffPageUser
from itsm_ai.ui.rendering import render
from itsm_ai.workflow import transitions

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/console")
def console_queue(
    request: Request,
    db_session: DbSession,
    user: ConsoleUser,
    type: Literal["incident", "service_request"] = "incident",
    group: Annotated[str | None, Query(max_length=120)] = None,
    state: Annotated[str | None, Query(max_length=30)] = None,
    priority: Annotated[int | None, Query(ge=1, le=4)] = None,
    sort: Literal["sla", "priority", "opened"] = "sla",
):
    """The work queue: open tickets, filtered by group, state and priority, soonest SLA due first."""
    rows, total = service.queue(
        db_session=db_session,
        record_type=type,
        groups=[group] if group else None,
        states=[state] if state else None,
        priorities=[priority] if priority else None,
        sort=sort,
    )
    return render(
        request,
        "console/queue.html",
        user,
        rows=rows,
        total=total,
        groups=service.group_names(db_session=db_session),
        states=transitions.states(type),
        filters={
            "type": type,
            "group": group or "",
            "state": state or "",
            "priority": priority,
            "sort": sort,
        },
    )


def _suggestion_fields(suggestions: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    fields = (suggestions or {}).get("fields") or {}
    return [(name, s) for name, s in fields.items() if isinstance(s, dict)]


@router.get("/console/tickets/{number}")
def console_ticket(number: str, request: Request, db_session: DbSession, user: ConsoleUser):
    """A ticket with its triage suggestions, similar tickets, duplicate flag, SLA clocks and history."""
    spec, obj = service.load_ticket(db_session=db_session, user=user, number=number)
    ticket = record_service.serialize(spec, obj)
    suggestions = ticket.get("suggestions") or {}
    base = f"/api/v1/{spec.path}/{{ref}}"
    routes = {
        "accept": has_route(request, "POST", base + "/suggestions/{field}/accept"),
        "override": has_route(request, "POST", base + "/suggestions/{field}/override"),
        "duplicate": has_route(request, "POST", base + "/duplicate/confirm"),
        "similar": has_route(request, "GET", base + "/similar"),
    }
    return render(
        request,
        "console/ticket.html",
        user,
        ticket=ticket,
        spec=spec,
        can_edit=user.role in STAFF,
        fields=_suggestion_fields(suggestions),
        suggestions=suggestions,
        similar=suggestions.get("similar") or [],
        duplicate=suggestions.get("duplicate"),
        routes=routes,
        clocks=sla_service.clocks_for(db_session=db_session, spec=spec, obj=obj),
        history=service.history(db_session=db_session, spec=spec, obj=obj, include_internal=True),
        next_states=transitions.allowed_next(
            spec.record_type, obj.state, change_type=getattr(obj, "change_type", None)
        ),
        resolution_codes=[str(c) for c in ResolutionCode],
        files=ticket_files(db_session=db_session, spec=spec, obj=obj, user=user),
    )


@router.get("/console/knowledge")
def console_review(request: Request, db_session: DbSession, user: StaffPageUser):
    """Drafted knowledge articles waiting for review: publish or send back to draft."""
    return render(
        request, "console/review.html", user, articles=service.articles_in_review(db_session=db_session)
    )


@router.get("/console/knowledge/{number}")
def console_article(number: str, request: Request, db_session: DbSession, user: ConsoleUser):
    """One knowledge article in any state (staff and data scientists)."""
    article = record_service.serialize(
        ARTICLE, service.load_article(db_session=db_session, user=user, number=number)
    )
    return render(request, "console/article.html", user, article=article)
