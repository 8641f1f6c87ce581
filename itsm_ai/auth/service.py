"""Users: accounts, logins and their managers; hashing is in `passwords`, bearer tokens in `tokens`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload

from itsm_ai.auth import passwords, throttle
from itsm_ai.auth.enums import LoginOutcome
from itsm_ai.auth.models import PasswordChange, User, UserCreate, UserRead, UserUpdate
from itsm_ai.base.roles import Role
from itsm_ai.database import utcnow
from itsm_ai.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from itsm_ai.inputs import parse_id
from itsm_ai.records.listing import like_pattern


def get(*, db_session: Session, user_id: int) -> User | None:
    """User by id."""
    return db_session.get(User, user_id)


def get_by_username(*, db_session: Session, username: str) -> User | None:
    """User by username (case-sensitive, as stored)."""
    return db_session.scalar(select(User).where(User.username == username))


def get_or_404(*, db_session: Session, ref: str) -> User:
    """User by numeric id or username, or NotFoundError."""
    user = None
    row_id = parse_id(ref)
    if row_id is not None:
        user = db_session.get(User, row_id)
    if user is None:
        user = get_by_username(db_session=db_session, username=ref)
    if user is None:
        raise NotFoundError(f"user {ref!r} not found")
    return user


def authenticate(*, db_session: Session, username: str, password: str, address: str = "unknown") -> User:
    """Return the active user with these credentials, or raise AuthenticationError (or 429 when throttled).

    Every attempt that is tried verifies one password hash, whether the user exists or not. A failure is
    committed at once: the request's transaction is rolled back by the error that follows.
    """
    now = utcnow()
    throttle.check(db_session=db_session, username=username, address=address, now=now)
    user = get_by_username(db_session=db_session, username=username)
    # End the read transaction before hashing: it would hold a pooled connection (on SQLite the write lock,
    # taken at a write request's first read) through the hash and the wait for a hashing slot.
    db_session.commit()
    ok = passwords.verify_password(user.hashed_password if user else None, password)
    if user is None or not user.active or not ok:
        throttle.record(
            db_session=db_session, username=username, address=address, outcome=LoginOutcome.failure, now=now
        )
        db_session.commit()
        raise AuthenticationError("incorrect username or password")
    throttle.record(
        db_session=db_session, username=username, address=address, outcome=LoginOutcome.success, now=now
    )
    return user


# Verified (username, password) pairs by a digest that includes the stored hash, so a changed password or a
# deactivated user is not served from it; spares an argon2 verification on every basic-auth request.
_verified: dict[str, int] = {}
_verified_lock = threading.Lock()
_VERIFIED_MAX = 1024


def _digest(user: User, username: str, password: str) -> str:
    return hashlib.sha256(f"{user.hashed_password}\0{username}\0{password}".encode()).hexdigest()


def authenticate_basic(*, db_session: Session, credentials: str, address: str = "unknown") -> User:
    """The active user of HTTP basic credentials (base64 "username:password"), or AuthenticationError."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError("malformed basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthenticationError("malformed basic credentials")
    user = get_by_username(db_session=db_session, username=username)
    if user is not None and user.active and user.hashed_password:
        with _verified_lock:
            if _verified.get(_digest(user, username, password)) == user.id:
                return user
    user = authenticate(db_session=db_session, username=username, password=password, address=address)
    with _verified_lock:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[_digest(user, username, password)] = user.id
    return user


def change_password(
    *, db_session: Session, user: User, change: PasswordChange, address: str = "unknown"
) -> User:
    """The user's own password change: the current password is checked (and throttled like a login); every
    token issued before is revoked."""
    from itsm_ai.audit import service as audit_service

    now = utcnow()
    throttle.check(db_session=db_session, username=user.username, address=address, now=now)
    if not passwords.verify_password(user.hashed_password, change.current_password):
        throttle.record(
            db_session=db_session,
            username=user.username,
            address=address,
            outcome=LoginOutcome.failure,
            now=now,
        )
        db_session.commit()
        raise PermissionDeniedError("current_password: incorrect password", field="current_password")
    user.hashed_password = passwords.hash_password(change.new_password)
    user.token_version = (user.token_version or 0) + 1
    db_session.flush()
    audit_service.record_changes(
        db_session=db_session,
        record_type="user",
        record_id=user.id,
        actor=user,
        changes=[("password", "***", "***")],
    )
    return user


def unlock(*, db_session: Session, user: User, actor: User) -> None:
    """Lift a login lock of the account (an admin's action, audited)."""
    from itsm_ai.audit import service as audit_service

    throttle.record(
        db_session=db_session,
        username=user.username,
        address="admin",
        outcome=LoginOutcome.unlock,
        now=utcnow(),
    )
    audit_service.record_event(
        db_session=db_session, record_type="user", record_id=user.id, actor=actor, action="login_unlocked"
    )


def create(*, db_session: Session, user_in: UserCreate, actor: User | None = None) -> User:
    """Create a user; the username must be new."""
    from itsm_ai.audit import service as audit_service

    if get_by_username(db_session=db_session, username=user_in.username):
        raise ConflictError(f"username {user_in.username!r} already exists", field="username")
    data = user_in.model_dump(exclude={"password"})
    manager = data.pop("manager")
    hashed = passwords.hash_password(user_in.password) if user_in.password else None
    user = User(**data, hashed_password=hashed)
    if manager is not None:
        user.manager_ref = _manager_for(db_session, user, manager)
        data["manager"] = manager
    db_session.add(user)
    db_session.flush()
    audit_service.record_create(
        db_session=db_session, record_type="user", record_id=user.id, actor=actor, values=data
    )
    return user


def update(*, db_session: Session, user: User, user_in: UserUpdate, actor: User | None) -> User:
    """Apply a versioned partial update to a user."""
    from itsm_ai.audit import service as audit_service

    if user_in.version != user.version:
        raise ConflictError(
            f"user {user.username} was changed by someone else (version {user.version}, you sent "
            f"{user_in.version}); reload and retry",
            field="version",
        )
    changes = user_in.model_dump(exclude_unset=True, exclude={"version", "password"})
    diffs = []
    if "manager" in changes:
        name = changes.pop("manager")
        old = user.manager
        if name != old:
            user.manager_ref = _manager_for(db_session, user, name) if name is not None else None
            diffs.append(("manager", old, name))
    for field, value in changes.items():
        old = getattr(user, field)
        if old != value:
            setattr(user, field, value)
            diffs.append((field, old, value))
    if user_in.password is not None:
        user.hashed_password = passwords.hash_password(user_in.password)
        user.token_version = (user.token_version or 0) + 1  # a reset password ends every session
        diffs.append(("password", "***", "***"))
    if diffs:
        db_session.flush()
        audit_service.record_changes(
            db_session=db_session, record_type="user", record_id=user.id, actor=actor, changes=diffs
        )
    return user


# A chain of managers longer than this is refused (and no real one is): the walk that looks for a cycle stops.
MAX_MANAGER_CHAIN = 100
# PostgreSQL's SQLSTATE for "could not obtain lock on row" (SELECT ... FOR UPDATE NOWAIT).
LOCK_NOT_AVAILABLE = "55P03"


def _manager_for(db_session: Session, user: User, name: str) -> User:
    """The user named as `user`'s manager, checked: exists, active, not the user, no cycle (else 422).

    On PostgreSQL the chain above is locked FOR SHARE and the user FOR NO KEY UPDATE, without waiting: two
    writers closing a cycle from both ends (a -> b while b -> a) conflict, and one answers 409 instead of both
    committing a loop. SQLite serialises writers at BEGIN IMMEDIATE.
    """
    manager = get_by_username(db_session=db_session, username=name)
    if manager is None:
        raise InvalidInputError(f"manager: no user {name!r}", field="manager")
    if not manager.active:
        raise InvalidInputError(f"manager: {name} is deactivated", field="manager")
    if manager.username == user.username:
        raise InvalidInputError("manager: a user cannot be their own manager", field="manager")
    postgres = db_session.get_bind().dialect.name == "postgresql"
    if postgres and user.id is not None:
        _lock(db_session, user.id, share=False)
    chain, current = [manager.username], manager
    while current is not None:
        if postgres:
            _lock(db_session, current.id, share=True)
            # Read the row again under the lock: the copy loaded before it may predate a writer that just
            # committed the other half of a cycle (CI saw a -> b and b -> a both commit).
            db_session.refresh(current)
        if user.id is not None and current.manager_id == user.id:
            path = " -> ".join([user.username, *chain, user.username])
            raise InvalidInputError(f"manager: a cycle of managers ({path})", field="manager")
        if len(chain) > MAX_MANAGER_CHAIN:
            raise InvalidInputError(
                f"manager: a chain of more than {MAX_MANAGER_CHAIN} managers", field="manager"
            )
        current = current.manager_ref
        if current is not None:
            chain.append(current.username)
    return manager


def _lock(db_session: Session, user_id: int, *, share: bool) -> None:
    """Lock one user row without waiting (PostgreSQL): held by another writer -> 409."""
    stmt = select(User.id).where(User.id == user_id)
    stmt = stmt.with_for_update(nowait=True, read=share, key_share=not share)
    connection = db_session.connection()
    savepoint = connection.begin_nested()
    try:
        connection.execute(stmt)
    except OperationalError as exc:
        savepoint.rollback()
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise ConflictError(
            "manager: another change of these users' managers is under way; retry", field="manager"
        ) from None
    savepoint.commit()


def list_users(
    *, db_session: Session, q: str | None, role: Role | None, limit: int, offset: int
) -> dict[str, Any]:
    """A page of users by username, filtered by a text in username or full name and by role."""
    stmt = select(User)
    if q:
        pattern = like_pattern(q)
        stmt = stmt.where(
            or_(User.username.ilike(pattern, escape="\\"), User.full_name.ilike(pattern, escape="\\"))
        )
    if role:
        stmt = stmt.where(User.role == role)
    total = db_session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = stmt.options(selectinload(User.manager_ref)).order_by(User.username).limit(limit).offset(offset)
    rows = db_session.scalars(page)
    return {
        "items": [UserRead.model_validate(u).model_dump() for u in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


def active_usernames(*, db_session: Session, limit: int = 500) -> list[str]:
    """Active users' names in order, for picking one (a manager)."""
    stmt = select(User.username).where(User.active.is_(True)).order_by(User.username).limit(limit)
    return list(db_session.scalars(stmt))


def ensure_user(*, db_session: Session, username: str, role: Role = Role.requester, cache=None) -> User:
    """Return the user with this username, creating a password-less one (imported callers)."""
    if cache is not None and username in cache:
        return cache[username]
    user = get_by_username(db_session=db_session, username=username)
    if user is None:
        user = User(username=username, role=role, active=True)
        db_session.add(user)
        db_session.flush()
    if cache is not None:
        cache[username] = user
    return user


def count(*, db_session: Session) -> int:
    """Number of users."""
    return db_session.scalar(select(func.count()).select_from(User)) or 0
