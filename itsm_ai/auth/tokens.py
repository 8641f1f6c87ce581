"""Bearer and refresh tokens: signing, checking and revoking them (the user store is auth.service)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache

import jwt
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.errors import AuthenticationError

ALGORITHM = "HS256"


@lru_cache
def _secret_for(configured: str, data_dir: str) -> str:
    if configured:
        return configured
    from pathlib import Path

    path = Path(data_dir) / "secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Generated once per installation so tokens survive restarts without a configured key.
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def secret_key() -> str:
    """The token signing key: configured, or generated once and kept in the data folder."""
    settings = get_settings()
    return _secret_for(settings.secret_key, str(settings.data_dir))


def create_access_token(user: User) -> tuple[str, int]:
    """Sign a bearer token for the user; returns (token, lifetime in seconds)."""
    return _sign(user, ACCESS, get_settings().access_token_minutes * 60)


# A refresh token (OAuth's refresh_token grant) lives as long as ServiceNow's default (100 days). It carries
# the user's token version like an access token, so logout and a password change revoke both kinds at once.
REFRESH_TOKEN_SECONDS = 100 * 24 * 3600
ACCESS, REFRESH = "access", "refresh"


def create_refresh_token(user: User) -> tuple[str, int]:
    """Sign a refresh token for the user; returns (token, lifetime in seconds)."""
    return _sign(user, REFRESH, REFRESH_TOKEN_SECONDS)


def _sign(user: User, kind: str, seconds: int) -> tuple[str, int]:
    now = utcnow()
    claims = {
        "sub": str(user.id),
        "role": str(user.role),
        "ver": user.token_version or 0,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=seconds)).timestamp()),
        # Access tokens signed before refresh tokens existed carry no "typ": they stay access tokens.
        **({"typ": kind} if kind != ACCESS else {}),
    }
    return jwt.encode(claims, secret_key(), algorithm=ALGORITHM), seconds


def decode_token(token: str, kind: str = ACCESS) -> tuple[int, int]:
    """Return the user id and token version in a valid token of this kind, or raise AuthenticationError."""
    try:
        claims = jwt.decode(token, secret_key(), algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        if claims.get("typ", ACCESS) != kind:
            raise AuthenticationError("invalid or expired token")
        return int(claims["sub"]), int(claims.get("ver", 0))
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise AuthenticationError("invalid or expired token") from exc


def user_for_token(*, db_session: Session, token: str, kind: str = ACCESS) -> User:
    """The active user a token of this kind was issued to, unless it was revoked since (logout, password
    change)."""
    user_id, token_version = decode_token(token, kind)
    user = db_session.get(User, user_id)
    if user is None or not user.active or token_version != (user.token_version or 0):
        raise AuthenticationError("invalid or expired token")
    return user


def revoke_tokens(*, db_session: Session, user: User) -> None:
    """Invalidate every token issued to the user so far (logout, password change or reset)."""
    user.token_version = (user.token_version or 0) + 1
    db_session.flush()
