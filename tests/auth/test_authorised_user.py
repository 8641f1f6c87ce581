"""The one credentials check both APIs use (auth.dependencies.authorised_user): bearer and basic, revocation,
the token kinds, and what it refuses."""

from __future__ import annotations

import base64

import pytest

from itsm_ai import database
from itsm_ai.auth import service, tokens
from itsm_ai.auth.dependencies import authorised_user
from itsm_ai.auth.models import UserCreate
from itsm_ai.base.roles import Role
from itsm_ai.errors import AuthenticationError

PASSWORD = "correct-horse-battery"


@pytest.fixture
def agent(db):
    with database.get_session() as session:
        user = service.create(
            db_session=session,
            user_in=UserCreate(username="ann", role=Role.agent, password=PASSWORD),
            actor=None,
        )
        return user.id


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def _check(scheme: str, credentials: str):
    with database.get_session() as session:
        return authorised_user(session, scheme=scheme, credentials=credentials, address="test").id


def test_bearer_and_basic_name_the_same_user(agent):
    with database.get_session() as session:
        token, _ = tokens.create_access_token(service.get(db_session=session, user_id=agent))
    assert _check("Bearer", f" {token} ") == agent
    assert _check("basic", _basic("ann", PASSWORD)) == agent
    assert _check("Basic", _basic("ann", PASSWORD)) == agent  # the second time from the verified cache


@pytest.mark.parametrize(
    ("scheme", "credentials"),
    [
        ("digest", "x"),
        ("basic", "!!!"),
        ("basic", base64.b64encode(b"no-colon").decode()),
        ("basic", _basic("ann", "wrong")),
        ("basic", _basic("nobody", PASSWORD)),
        ("bearer", "not-a-token"),
    ],
)
def test_bad_credentials_are_401(agent, scheme, credentials):
    with pytest.raises(AuthenticationError):
        _check(scheme, credentials)


def test_revoked_tokens_and_refresh_tokens_are_refused(agent):
    with database.get_session() as session:
        user = service.get(db_session=session, user_id=agent)
        access, _ = tokens.create_access_token(user)
        refresh, lifetime = tokens.create_refresh_token(user)
    assert lifetime == tokens.REFRESH_TOKEN_SECONDS
    with pytest.raises(AuthenticationError):
        _check("bearer", refresh)  # a refresh token is no bearer token
    with database.get_session() as session:
        assert tokens.user_for_token(db_session=session, token=refresh, kind=tokens.REFRESH).id == agent
        with pytest.raises(AuthenticationError):
            tokens.user_for_token(db_session=session, token=access, kind=tokens.REFRESH)
        tokens.revoke_tokens(db_session=session, user=service.get(db_session=session, user_id=agent))
    for token, kind in ((access, tokens.ACCESS), (refresh, tokens.REFRESH)):
        with database.get_session() as session, pytest.raises(AuthenticationError):
            tokens.user_for_token(db_session=session, token=token, kind=kind)
