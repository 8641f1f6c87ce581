"""The agent console (/console): work queue, ticket triage and knowledge review (models: `model_ops`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from itsm_ai.base.roles import STAFF
from itsm_ai.database import DbSession
from itsm_ai.knowledge.article.service import ARTICLE
from itsm_ai.records import service as record_service
from itsm_ai.sla import service as sla_service
from itsm_ai.ticket.enums import ResolutionCode
from itsm_ai.ui import agent_queue, article_reads, form_choices, ticket_reads
from itsm_ai.ui.api_routes import has_route
from itsm_ai.ui.mail_pages import ticket_files
from itsm_ai.ui.page_auth import ConsoleUser, PageRoute, StaffPageUser
from itsm_ai.ui.rendering import diff_lines, render
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
    # A string: the filter form sends "" for "Any priority", which an int parameter would refuse (422).
    priority: Annotated[str | None, Query(pattern=r"^[1-4]?$")] = None,
    sort: Literal["sla", "priority", "opened"] = "sla",
    view: Literal["all", "mine", "my_groups", "unassigned", "breaching"] = "all",
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
):
    """The work queue: open tickets of a saved view, searched, filtered by group, state and priority, soonest
    SLA due first, a page at a time."""
    size = agent_queue.PAGE_SIZE
    level = int(priority) if priority else None
    rows, total = agent_queue.queue(
        db_session=db_session,
        record_type=type,
        groups=[group] if group else None,
        states=[state] if state else None,
        priorities=[level] if level else None,
        sort=sort,
        view=view,
        q=q,
        user=user,
        limit=size,
        offset=(page - 1) * size,
    )
    filters = {
        "type": type,
        "group": group or "",
        "state": state or "",
        "priority": level,
        "sort": sort,
        "view": view,
        "q": q or "",
    }
    kept = {k: v for k, v in filters.items() if v not in ("", None)}
    return render(
        request,
        "console/queue.html",
        user,
        rows=rows,
        total=total,
        groups=form_choices.group_names(db_session=db_session),
        states=transitions.states(type),
        filters=filters,
        views=agent_queue.QUEUE_VIEWS,
        page=page,
        first=(page - 1) * size + 1,
        prev_url=f"/console?{urlencode({**kept, 'page': page - 1})}" if page > 1 else None,
        more=total > agent_queue.COUNT_CAP,
        next_url=(
            f"/console?{urlencode({**kept, 'page': page + 1})}"
            if page * size < total or (total > agent_queue.COUNT_CAP and len(rows) == size)
            else None
        ),
        view_urls={v: f"/console?{urlencode({'type': type, 'view': v})}" for v in agent_queue.QUEUE_VIEWS},
        api_path="incidents" if type == "incident" else "requests",
        staff=form_choices.staff_usernames(db_session=db_session),
        can_edit=user.role in STAFF,
    )


def _suggestion_fields(suggestions: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    fields = (suggestions or {}).get("fields") or {}
    return [(name, s) for name, s in fields.items() if isinstance(s, dict)]


@router.get("/console/tickets/{number}")
def console_ticket(number: str, request: Request, db_session: DbSession, user: ConsoleUser):
    """A ticket with its triage suggestions, similar tickets, duplicate flag, SLA clocks and history."""
    spec, obj = ticket_reads.load_ticket(db_session=db_session, user=user, number=number)
    ticket = record_service.serialize(spec, obj)
    suggestions = ticket.get("suggestions") or {}
    base = f"/api/v1/{spec.path}/{{ref}}"
    routes = {
        "accept": has_route(request, "POST", base + "/suggestions/{field}/accept"),
        "override": has_route(request, "POST", base + "/suggestions/{field}/override"),
        "duplicate": has_route(request, "POST", base + "/duplicate/confirm"),
        "similar": has_route(request, "GET", base + "/similar"),
        "major": has_route(request, "POST", base + "/major-incident/problem"),
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
        history=ticket_reads.history(db_session=db_session, spec=spec, obj=obj, include_internal=True),
        next_states=transitions.allowed_next(
            spec.record_type, obj.state, change_type=getattr(obj, "change_type", None)
        ),
        resolution_codes=[str(c) for c in ResolutionCode],
        files=ticket_files(db_session=db_session, spec=spec, obj=obj, user=user),
        groups=form_choices.group_names(db_session=db_session),
        members=form_choices.members_of(db_session=db_session, group=ticket.get("assignment_group")),
        categories=form_choices.known_categories(db_session=db_session, spec=spec),
        approvals=ticket_reads.approvals(db_session=db_session, spec=spec, obj=obj, user=user),
        item_needs_approval=bool(getattr(getattr(obj, "catalog_item_ref", None), "requires_approval", False)),
    )


@router.get("/console/new")
def console_new_ticket(
    request: Request,
    db_session: DbSession,
    user: StaffPageUser,
    type: Literal["incident", "service_request"] = "incident",
    caller: Annotated[str | None, Query(max_length=80)] = None,
):
    """Open a ticket on behalf of a caller (a phone call, a walk-up)."""
    spec = ticket_reads.QUEUE_TYPES[type]
    return render(
        request,
        "console/new.html",
        user,
        type=type,
        api_path=spec.path,
        caller=caller or "",
        callers=form_choices.requester_usernames(db_session=db_session),
        groups=form_choices.group_names(db_session=db_session),
        categories=form_choices.known_categories(db_session=db_session, spec=spec),
    )


@router.get("/console/knowledge")
def console_knowledge(
    request: Request,
    db_session: DbSession,
    user: StaffPageUser,
    state: Literal["draft", "review", "published", "retired"] | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
):
    """Knowledge for agents: articles in every state, searched; the review queue; new articles and drafts."""
    size = 50
    articles, total = article_reads.list_articles(
        db_session=db_session, state=state, q=q, limit=size, offset=(page - 1) * size
    )
    kept = {k: v for k, v in (("state", state), ("q", q)) if v}
    return render(
        request,
        "console/knowledge.html",
        user,
        articles=articles,
        total=total,
        review=article_reads.articles_in_review(db_session=db_session),
        filters={"state": state or "", "q": q or ""},
        prev_url=f"/console/knowledge?{urlencode({**kept, 'page': page - 1})}" if page > 1 else None,
        next_url=f"/console/knowledge?{urlencode({**kept, 'page': page + 1})}"
        if page * size < total
        else None,
    )


@router.get("/console/knowledge/new")
def console_article_new(request: Request, user: StaffPageUser):
    """Write a new article (Markdown)."""
    return render(request, "console/article_edit.html", user, article=None)


@router.get("/console/knowledge/{number}/edit")
def console_article_edit(number: str, request: Request, db_session: DbSession, user: StaffPageUser):
    """Edit an article's title, category, keywords and Markdown text."""
    obj = article_reads.load_article(db_session=db_session, user=user, number=number)
    return render(request, "console/article_edit.html", user, article=record_service.serialize(ARTICLE, obj))


@router.get("/console/knowledge/{number}")
def console_article(
    number: str,
    request: Request,
    db_session: DbSession,
    user: ConsoleUser,
    old: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    new: Annotated[int | None, Query(ge=1, le=100_000)] = None,
):
    """One knowledge article in any state (staff and data scientists), rendered, with a diff between two of
    its text versions (the latest against the one before by default)."""
    obj = article_reads.load_article(db_session=db_session, user=user, number=number)
    article = record_service.serialize(ARTICLE, obj)
    versions = article_reads.article_versions(db_session=db_session, obj=obj)
    last = len(versions)
    new_n = min(new or last, last)
    old_n = min(old or max(new_n - 1, 1), last)
    diff = diff_lines(versions[old_n - 1].text, versions[new_n - 1].text) if old_n != new_n else []
    return render(
        request,
        "console/article.html",
        user,
        article=article,
        versions=versions,
        old=old_n,
        new=new_n,
        diff=diff,
        can_edit=user.role in STAFF,
    )
