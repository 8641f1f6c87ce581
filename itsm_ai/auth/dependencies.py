"""Request dependencies: the current user and role checks, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from itsm_ai.auth import service, tokens
from itsm_ai.auth.models import User
from itsm_ai.base.roles import ADMINS, DATA_ROLES, READERS, STAFF
from itsm_ai.database import DbSession
from itsm_ai.errors import AuthenticationError, PermissionDeniedError

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

# The web UI keeps the same signed token in an HttpOnly cookie. A browser sends cookies on its own, so a
# cookie-authenticated change must also carry a header no cross-site form can set (CSRF guard).
SESSION_COOKIE = "itsm_session"
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "itsm-ui"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: run uvicorn with --proxy-headers)."""
    return request.client.host if request.client else "unknown"


def _current_user(
    request: Request, db_session: DbSession, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    if not token:
        token = request.cookies.get(SESSION_COOKIE)
        if token and request.method in UNSAFE_METHODS and request.headers.get(CSRF_HEADER) != CSRF_VALUE:
            raise PermissionDeniedError(
                f"{CSRF_HEADER}: a change authenticated by the session cookie needs the header "
                f"{CSRF_HEADER}: {CSRF_VALUE}",
                field=CSRF_HEADER,
            )
    if not token:
        raise AuthenticationError("not authenticated: send a bearer token from POST /api/v1/auth/token")
    return authorised_user(db_session, scheme="bearer", credentials=token, address=client_address(request))


def authorised_user(db_session: Session, *, scheme: str, credentials: str, address: str) -> User:
    """The user of an Authorization header's credentials ("bearer" token, refused once revoked, or "basic"),
    with the read ended; AuthenticationError (401) otherwise."""
    scheme = scheme.lower()
    if scheme == "bearer":
        user = tokens.user_for_token(db_session=db_session, token=credentials.strip())
    elif scheme == "basic":
        user = service.authenticate_basic(
            db_session=db_session, credentials=credentials.strip(), address=address
        )
    else:
        raise AuthenticationError(f"unsupported authorization scheme {scheme!r}: send basic or bearer")
    # End the read (and a login record): the connection (and on SQLite a write request's lock) goes back until
    # the endpoint needs it, so nothing is held while a request waits for a thread, runs ML or (a ServiceNow
    # batch) runs its sub-requests. The user stays loaded (expire_on_commit=False).
    db_session.commit()
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


def require_roles(allowed: frozenset[str]):
    """Dependency factory: the current user must have one of these roles."""

    def _check(user: CurrentUser) -> User:
        if user.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise PermissionDeniedError(f"this action needs one of the roles: {names}")
        return user

    return _check


AdminUser = Annotated[User, Depends(require_roles(ADMINS))]
StaffUser = Annotated[User, Depends(require_roles(STAFF))]
ReaderUser = Annotated[User, Depends(require_roles(READERS))]
DataUser = Annotated[User, Depends(require_roles(DATA_ROLES))]
