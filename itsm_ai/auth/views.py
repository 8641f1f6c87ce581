"""Token endpoint and user management."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from itsm_ai.auth import service, tokens
from itsm_ai.auth.dependencies import AdminUser, CurrentUser, StaffUser, client_address
from itsm_ai.auth.models import PasswordChange, Token, UserCreate, UserRead, UserUpdate
from itsm_ai.base.roles import Role
from itsm_ai.database import DbSession
from itsm_ai.inputs import Offset

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/token",
    response_model=Token,
    summary="Log in (OAuth2 password flow); throttled per account and per address (429 with Retry-After)",
)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, db_session: DbSession):
    user = service.authenticate(
        db_session=db_session, username=form.username, password=form.password, address=client_address(request)
    )
    token, lifetime = tokens.create_access_token(user)
    return Token(access_token=token, expires_in=lifetime, role=user.role, username=user.username)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: revokes every token of the user (all sessions)",
)
def logout(db_session: DbSession, user: CurrentUser) -> Response:
    tokens.revoke_tokens(db_session=db_session, user=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/me/password",
    response_model=Token,
    tags=["users"],
    summary="Change my password: every earlier token is revoked; answers a fresh one",
)
def change_password(body: PasswordChange, request: Request, db_session: DbSession, user: CurrentUser):
    service.change_password(db_session=db_session, user=user, change=body, address=client_address(request))
    token, lifetime = tokens.create_access_token(user)
    return Token(access_token=token, expires_in=lifetime, role=user.role, username=user.username)


@router.post(
    "/users/{ref}/unlock",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    summary="Lift the login lock of an account (admins)",
)
def unlock_user(ref: str, db_session: DbSession, admin: AdminUser) -> Response:
    target = service.get_or_404(db_session=db_session, ref=ref)
    service.unlock(db_session=db_session, user=target, actor=admin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/me", response_model=UserRead, tags=["users"], summary="The logged-in user")
def me(user: CurrentUser):
    return user


@router.get("/users", tags=["users"], summary="List users (agents and admins)")
def list_users(
    db_session: DbSession,
    user: StaffUser,
    q: Annotated[str | None, Query(max_length=100)] = None,
    role: Role | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
):
    return service.list_users(db_session=db_session, q=q, role=role, limit=limit, offset=offset)


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED, tags=["users"])
def create_user(body: UserCreate, db_session: DbSession, admin: AdminUser):
    return service.create(db_session=db_session, user_in=body, actor=admin)


@router.get("/users/{ref}", response_model=UserRead, tags=["users"])
def read_user(ref: str, db_session: DbSession, user: StaffUser):
    return service.get_or_404(db_session=db_session, ref=ref)


@router.patch("/users/{ref}", response_model=UserRead, tags=["users"])
def update_user(ref: str, body: UserUpdate, db_session: DbSession, admin: AdminUser):
    target = service.get_or_404(db_session=db_session, ref=ref)
    return service.update(db_session=db_session, user=target, user_in=body, actor=admin)
