"""Token endpoint and user management."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.security import OAuth2PasswordRequestForm

from itsm_ai.auth import service
from itsm_ai.auth.dependencies import AdminUser, CurrentUser, StaffUser
from itsm_ai.auth.models import Token, UserCreate, UserRead, UserUpdate
from itsm_ai.base.roles import Role
from itsm_ai.database import DbSession
from itsm_ai.inputs import Offset

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=Token, summary="Log in (OAuth2 password flow)")
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], db_session: DbSession):
    user = service.authenticate(db_session=db_session, username=form.username, password=form.password)
    token, lifetime = service.create_access_token(user)
    return Token(access_token=token, expires_in=lifetime, role=user.role, username=user.username)


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
