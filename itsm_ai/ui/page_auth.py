"""Authentication of pages: the session cookie's user, role checks, and the route class that turns a missing
login into a redirect and domain errors into an HTML error page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from itsm_ai.auth import tokens as auth_tokens
from itsm_ai.auth.dependencies import SESSION_COOKIE
from itsm_ai.auth.models import User
from itsm_ai.base.roles import ADMINS, DATA_ROLES, READERS, REQUESTERS, STAFF, Role
from itsm_ai.database import DbSession
from itsm_ai.errors import AppError, AuthenticationError, InvalidInputError, PermissionDeniedError
from itsm_ai.ui.rendering import PageIdentity, render


class LoginRequired(Exception):
    """No valid session cookie: the page redirects to the login form."""


def _page_user(request: Request, db_session: DbSession) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        user = auth_tokens.user_for_token(db_session=db_session, token=token)
    except AuthenticationError:
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


PortalUser = Annotated[User, Depends(_require(REQUESTERS))]
ConsoleUser = Annotated[User, Depends(_require(READERS))]
StaffPageUser = Annotated[User, Depends(_require(STAFF))]
ModelsPageUser = Annotated[User, Depends(_require(DATA_ROLES))]
AdminPageUser = Annotated[User, Depends(_require(ADMINS))]


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
