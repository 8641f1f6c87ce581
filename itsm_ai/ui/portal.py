"""The self-service portal for requesters (/portal): chat, own tickets, knowledge and the catalog."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from itsm_ai.approval import service as approval_service
from itsm_ai.database import DbSession
from itsm_ai.knowledge.article.service import ARTICLE
from itsm_ai.records import service as record_service
from itsm_ai.ui import article_reads, form_choices, ticket_reads
from itsm_ai.ui.api_routes import has_route
from itsm_ai.ui.mail_pages import ticket_files
from itsm_ai.ui.page_auth import PageRoute, PortalUser
from itsm_ai.ui.rendering import render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PAGE_SIZE = 20


@router.get("/portal")
def portal_home(request: Request, user: PortalUser):
    """The virtual agent chat."""
    return render(
        request, "portal/chat.html", user, chat_available=has_route(request, "POST", "/api/v1/chat")
    )


@router.get("/portal/tickets")
def portal_tickets(
    request: Request,
    db_session: DbSession,
    user: PortalUser,
    status: Literal["open", "closed", "all"] = "all",
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    """The requester's own tickets: a page of 20, open or closed, searched by number or title."""
    tickets, total = ticket_reads.my_tickets(
        db_session=db_session, user=user, status=status, q=q, offset=offset, limit=PAGE_SIZE
    )
    return render(
        request,
        "portal/tickets.html",
        user,
        tickets=tickets,
        total=total,
        status=status,
        q=q or "",
        offset=offset,
        page_size=PAGE_SIZE,
    )


@router.get("/portal/tickets/{number}")
def portal_ticket(number: str, request: Request, db_session: DbSession, user: PortalUser):
    """One of the requester's tickets with its public history (never work notes)."""
    spec, obj = ticket_reads.load_ticket(db_session=db_session, user=user, number=number)
    ticket = record_service.serialize(spec, obj)
    ticket.pop("suggestions", None)
    entries = ticket_reads.history(db_session=db_session, spec=spec, obj=obj, include_internal=False)
    files = ticket_files(db_session=db_session, spec=spec, obj=obj, user=user)
    approvals = approval_service.list_for_record(
        db_session=db_session, record_type=spec.record_type, record_id=obj.id
    )
    return render(
        request,
        "portal/ticket.html",
        user,
        ticket=ticket,
        spec=spec,
        history=entries,
        api_path=spec.path,
        files=files,
        approvals=[approval_service.to_read(a, obj.number) for a in approvals],
        can_decide=spec.record_type == "incident" and obj.state == "resolved",
        needs_approval=bool(getattr(getattr(obj, "catalog_item_ref", None), "requires_approval", False)),
    )


@router.get("/portal/knowledge")
def portal_knowledge(
    request: Request,
    db_session: DbSession,
    user: PortalUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
):
    """Search published knowledge articles."""
    articles = article_reads.search_articles(db_session=db_session, user=user, q=q)
    return render(request, "portal/knowledge.html", user, articles=articles, q=q or "")


@router.get("/portal/knowledge/{number}")
def portal_article(number: str, request: Request, db_session: DbSession, user: PortalUser):
    """One published article, with 'was this helpful?' when the API takes feedback."""
    article = record_service.serialize(
        ARTICLE, article_reads.load_article(db_session=db_session, user=user, number=number)
    )
    feedback = has_route(request, "POST", "/api/v1/knowledge/{ref}/feedback")
    return render(request, "portal/article.html", user, article=article, feedback=feedback)


@router.get("/portal/catalog")
def portal_catalog(request: Request, db_session: DbSession, user: PortalUser):
    """Active catalog items; ordering one creates a service request through the API."""
    return render(request, "portal/catalog.html", user, items=form_choices.catalog(db_session=db_session))
