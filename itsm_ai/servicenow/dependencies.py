"""The caller of the ServiceNow-compatible API (basic or bearer authentication)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from itsm_ai.auth.dependencies import authorised_user, client_address
from itsm_ai.auth.models import User
from itsm_ai.database import DbSession
from itsm_ai.errors import AuthenticationError


def servicenow_user(request: Request, db_session: DbSession) -> User:
    """The caller of a ServiceNow path, by basic auth or a bearer token."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() not in ("basic", "bearer"):
        raise AuthenticationError("User is not authenticated: send basic auth or a bearer token")
    return authorised_user(
        db_session, scheme=scheme, credentials=credentials, address=client_address(request)
    )


SnUser = Annotated[User, Depends(servicenow_user)]
