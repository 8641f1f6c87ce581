"""The web UI: a self-service portal for requesters (/portal) and an agent console (/console).

Pages are rendered on the server from the service layer; the pages' small script makes every change through
the public JSON API (/api/v1), authenticated by the HttpOnly session cookie set at login (plus the CSRF header
the API requires for cookie-authenticated changes). HTML routes are left out of the OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from itsm_ai.auth import service as auth_service
from itsm_ai.auth.dependencies import CSRF_HEADER, CSRF_VALUE, SESSION_COOKIE
from itsm_ai.auth.enums import Role
from itsm_ai.auth.models import User
from itsm_ai.database import DbSession
from itsm_ai.errors import AppError, AuthenticationError, InvalidInputError, PermissionDeniedError
from itsm_ai.knowledge.service import ARTICLE
from itsm_ai.records import service as record_service
from itsm_ai.sla import service as sla_service
from itsm_ai.ticket.enums import ResolutionCode
from itsm_ai.ui import service
from itsm_ai.workflow import transitions

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STAFF = frozenset({Role.agent, Role.admin})
CONSOLE_ROLES = frozenset({Role.agent, Role.admin, Role.data_scientist})
HOME = {
    Role.requester: "/portal",
    Role.agent: "/console",
    Role.admin: "/console",
    Role.data_scientist: "/console",
}
TICKET_PATHS = {
    "incident": "incidents",
    "service_request": "requests",
    "problem": "problems",
    "change": "changes",
}


# -- rendering ---------------------------------------------------------------------------------------------


def _fmt_dt(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)  # times inside JSON columns (suggestion feedback)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fmt_span(seconds: float) -> str:
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def _fmt_due(value: Any) -> str:
    """'due in 3h 20m' or 'overdue by 1h 5m' relative to the SLA engine's now."""
    if not isinstance(value, datetime):
        return "no SLA"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    left = (value - sla_service.current_time()).total_seconds()
    return f"due in {_fmt_span(left)}" if left >= 0 else f"overdue by {_fmt_span(left)}"


def _fmt_pct(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{float(value) * 100:.0f}%" if float(value) <= 1 else f"{float(value):.0f}%"


def _label(value: Any) -> str:
    return "" if value is None else str(value).replace("_", " ")


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every user-written value is escaped; nothing is marked safe
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(dt=_fmt_dt, due=_fmt_due, pct=_fmt_pct, label=_label, span=_fmt_span)
_env.globals.update(csrf_header=CSRF_HEADER, csrf_value=CSRF_VALUE, ticket_paths=TICKET_PATHS)
templates = Jinja2Templates(env=_env)


def render(
    request: Request, name: str, user: User | PageIdentity | None, status_code: int = 200, **context: Any
) -> Response:
    """Render a page template with the user and the navigation for their role."""
    return templates.TemplateResponse(
        request,
        name,
        {"user": user, "home": HOME.get(user.role) if user else "/login", **context},
        status_code=status_code,
    )


# -- authentication of pages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageIdentity:
    """Who is logged in, detached from the database session (for error pages)."""

    username: str
    role: Role


class LoginRequired(Exception):
    """No valid session cookie: the page redirects to the login form."""


def _page_user(request: Request, db_session: DbSession) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        user_id = auth_service.decode_token(token)
    except AuthenticationError:
        return None
    user = auth_service.get(db_session=db_session, user_id=user_id)
    if user is None or not user.active:
        return None
    request.state.page_identity = PageIdentity(user.username, user.role)
    return user


MaybeUser = Annotated[User | None, Depends(_page_user)]


def _require(roles: frozenset[Role]) -> Callable[..., User]:
    def check(user: MaybeUser) -> User:
        if user is None:
            raise LoginRequired
        if user.role not in roles:
            names = ", ".join(sorted(r.value for r in roles))
            raise PermissionDeniedError(f"this page is for these roles: {names}")
        return user

    return check


PortalUser = Annotated[User, Depends(_require(frozenset({Role.requester})))]
ConsoleUser = Annotated[User, Depends(_require(CONSOLE_ROLES))]
StaffPageUser = Annotated[User, Depends(_require(STAFF))]
ModelsPageUser = Annotated[User, Depends(_require(frozenset({Role.admin, Role.data_scientist})))]


class PageRoute(APIRoute):
    """Turns a missing login into a redirect and domain errors into an HTML error page (not JSON)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target)}", status.HTTP_303_SEE_OTHER)
            except RequestValidationError as exc:
                fields = ", ".join(str(e.get("loc", ("?",))[-1]) for e in exc.errors())
                error = InvalidInputError(f"invalid value for: {fields}")
                who = getattr(request.state, "page_identity", None)
                return render(request, "error.html", who, error.status_code, error=error)
            except AppError as exc:
                # The request's session is closed by now: show the error with what the login step noted.
                who = getattr(request.state, "page_identity", None)
                return render(request, "error.html", who, exc.status_code, error=exc)

        return page_handler


router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _safe_next(target: str | None) -> str | None:
    # Only local paths: an open redirect to another site would make the login page a phishing helper.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


_PARAM = re.compile(r"\{[^}]*\}")


def _walk(routes, prefix: str = ""):
    for route in routes:
        if isinstance(route, APIRoute):
            for method in route.methods:
                yield method.lower(), _PARAM.sub("{}", prefix + route.path)
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers nested
            context = getattr(route, "include_context", None)
            yield from _walk(route.original_router.routes, prefix + (getattr(context, "prefix", "") or ""))


def _route_table(app: FastAPI) -> frozenset[tuple[str, str]]:
    table = getattr(app.state, "ui_route_table", None)
    if table is None:
        table = frozenset(_walk(app.routes))
        if not any(path.startswith("/api/") for _, path in table):
            # Unknown router internals: the OpenAPI document (slower to build) lists every API route.
            paths = app.openapi().get("paths", {})
            table = frozenset((m, _PARAM.sub("{}", p)) for p, ops in paths.items() for m in ops)
        app.state.ui_route_table = table
    return table


def has_route(request: Request, method: str, path: str) -> bool:
    """True when the running app serves this API route (features of other packages may be absent)."""
    return (method.lower(), _PARAM.sub("{}", path)) in _route_table(request.app)


# -- login ---------------------------------------------------------------------------------------------------


@router.get("/")
def index(user: MaybeUser):
    """The home page of the logged-in user's role, or the login form."""
    return RedirectResponse(HOME[user.role] if user else "/login", status.HTTP_303_SEE_OTHER)


@router.get("/login")
def login_form(request: Request, user: MaybeUser, next: str | None = None):
    """The login form (a logged-in user goes straight home)."""
    if user is not None:
        return RedirectResponse(_safe_next(next) or HOME[user.role], status.HTTP_303_SEE_OTHER)
    return render(request, "login.html", None, next=_safe_next(next) or "")


@router.post("/login")
def login(
    request: Request,
    db_session: DbSession,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=500)],
    next: Annotated[str, Form(max_length=2000)] = "",
):
    """Check the credentials, set the session cookie and go to the role's home (or `next`)."""
    try:
        user = auth_service.authenticate(db_session=db_session, username=username, password=password)
    except AuthenticationError:
        return render(
            request,
            "login.html",
            None,
            status.HTTP_401_UNAUTHORIZED,
            next=_safe_next(next) or "",
            username=username,
            error="Incorrect username or password.",
        )
    token, lifetime = auth_service.create_access_token(user)
    target = _safe_next(next) or HOME[user.role]
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=lifetime,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout():
    """Forget the session cookie."""
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# -- portal --------------------------------------------------------------------------------------------------


@router.get("/portal")
def portal_home(request: Request, user: PortalUser):
    """The virtual agent chat."""
    return render(
        request, "portal/chat.html", user, chat_available=has_route(request, "POST", "/api/v1/chat")
    )


@router.get("/portal/tickets")
def portal_tickets(request: Request, db_session: DbSession, user: PortalUser):
    """The requester's own tickets."""
    return render(
        request, "portal/tickets.html", user, tickets=service.my_tickets(db_session=db_session, user=user)
    )


@router.get("/portal/tickets/{number}")
def portal_ticket(number: str, request: Request, db_session: DbSession, user: PortalUser):
    """One of the requester's tickets with its public history (never work notes)."""
    spec, obj = service.load_ticket(db_session=db_session, user=user, number=number)
    ticket = record_service.serialize(spec, obj)
    ticket.pop("suggestions", None)
    entries = service.history(db_session=db_session, spec=spec, obj=obj, include_internal=False)
    return render(
        request, "portal/ticket.html", user, ticket=ticket, spec=spec, history=entries, api_path=spec.path
    )


@router.get("/portal/knowledge")
def portal_knowledge(
    request: Request,
    db_session: DbSession,
    user: PortalUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
):
    """Search published knowledge articles."""
    articles = service.search_articles(db_session=db_session, user=user, q=q)
    return render(request, "portal/knowledge.html", user, articles=articles, q=q or "")


@router.get("/portal/knowledge/{number}")
def portal_article(number: str, request: Request, db_session: DbSession, user: PortalUser):
    """One published article, with 'was this helpful?' when the API takes feedback."""
    article = record_service.serialize(
        ARTICLE, service.load_article(db_session=db_session, user=user, number=number)
    )
    feedback = has_route(request, "POST", "/api/v1/knowledge/{ref}/feedback")
    return render(request, "portal/article.html", user, article=article, feedback=feedback)


@router.get("/portal/catalog")
def portal_catalog(request: Request, db_session: DbSession, user: PortalUser):
    """Active catalog items; ordering one creates a service request through the API."""
    return render(request, "portal/catalog.html", user, items=service.catalog(db_session=db_session))


# -- console -------------------------------------------------------------------------------------------------


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


@router.get("/console/models")
def console_models(request: Request, user: ModelsPageUser):
    """The triage model registry: versions, CURRENT, challenger and held-out metrics (read only)."""
    try:
        from itsm_ai.classify import service as classify_service

        models, problem = classify_service.list_models(), None
    except ImportError:
        models, problem = [], "the triage package is not installed"
    return render(request, "console/models.html", user, models=models, problem=problem)


def install(app: FastAPI) -> None:
    """Mount the pages and their static files on the application."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
