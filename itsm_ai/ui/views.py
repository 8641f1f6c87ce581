"""The web UI: a self-service portal for requesters (/portal) and an agent console (/console).

Pages are rendered on the server from the service layer; the pages' small script makes every change through
the public JSON API (/api/v1), authenticated by the HttpOnly session cookie set at login (plus the CSRF header
the API requires for cookie-authenticated changes). HTML routes are left out of the OpenAPI document.

This module holds the login pages and `install`; the portal and console pages live in `portal` and `console`,
rendering in `rendering`, page authentication in `page_auth`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request, status
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from itsm_ai.auth import service as auth_service
from itsm_ai.auth import tokens as auth_tokens
from itsm_ai.auth.dependencies import SESSION_COOKIE, client_address
from itsm_ai.config import get_settings
from itsm_ai.database import DbSession
from itsm_ai.errors import AuthenticationError, TooManyRequestsError
from itsm_ai.ui import admin, console, dashboard, mail_pages, model_ops, portal
from itsm_ai.ui.page_auth import MaybeUser, PageRoute
from itsm_ai.ui.rendering import HOME, STATIC_DIR, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _safe_next(target: str | None) -> str | None:
    # Only local paths: an open redirect to another site would make the login page a phishing helper.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


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
        user = auth_service.authenticate(
            db_session=db_session, username=username, password=password, address=client_address(request)
        )
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
    except TooManyRequestsError as exc:
        response = render(
            request,
            "login.html",
            None,
            status.HTTP_429_TOO_MANY_REQUESTS,
            next=_safe_next(next) or "",
            username=username,
            error="Too many failed logins. Please wait a few minutes and try again.",
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    token, lifetime = auth_tokens.create_access_token(user)
    target = _safe_next(next) or HOME[user.role]
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=lifetime,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure_cookie(request),
    )
    return response


def _secure_cookie(request: Request) -> bool:
    configured = get_settings().session_cookie_secure
    return request.url.scheme == "https" if configured is None else configured


@router.post("/logout")
def logout(request: Request, db_session: DbSession, user: MaybeUser):
    """Forget the session cookie and revoke the user's tokens (a copied cookie stops working too)."""
    if user is not None:
        auth_tokens.revoke_tokens(db_session=db_session, user=user)
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure_cookie(request)
    )
    return response


# Included after the login routes, portal before console: the order the routes were always matched in.
router.include_router(portal.router)
router.include_router(console.router)
router.include_router(mail_pages.router)
router.include_router(dashboard.router)
router.include_router(model_ops.router)
# Last: its catch-all /console/* and /portal/* pages answer the styled 404 for any path not matched above.
router.include_router(admin.router)


def install(app: FastAPI) -> None:
    """Mount the pages and their static files on the application."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
