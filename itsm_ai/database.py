"""Engine, sessions and the declarative base: SQLite (WAL, foreign keys) by default, or PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from starlette.requests import Request

from itsm_ai.config import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every record; constraint names are stable so Alembic diffs stay clean."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, so SQLite and PostgreSQL behave the same."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(get_settings().database_busy_timeout_seconds * 1000)}")
    cursor.close()


# Execution option of the engine that write sessions are bound to (see `write_engine`).
WRITE_OPTION = "itsm_write"


def _sqlite_begin(conn: Any) -> None:
    # A write transaction takes the write lock at BEGIN (waiting up to the busy timeout), so what it reads is
    # what it overwrites: with the driver's deferred BEGIN, a transaction that read first and then writes
    # after another writer committed fails at once with "database is locked" (no busy wait for a snapshot).
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, *, echo: bool | None = None) -> Engine:
    """Create an engine for the URL (default: settings), with SQLite pragmas and a pool sized by settings."""
    settings = get_settings()
    url = url or settings.database_url
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": settings.database_echo if echo is None else echo}
    in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if not in_memory:
        kwargs.update(
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout,
        )
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": settings.database_busy_timeout_seconds,
        }
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None
_lock = threading.Lock()


def get_engine() -> Engine:
    """Return the process-wide engine, created on first use from the settings."""
    global _engine, _session_factory
    with _lock:
        if _engine is None:
            _engine = make_engine()
            _session_factory = sessionmaker(bind=_engine, expire_on_commit=False, autoflush=False)
        return _engine


def reset_engine() -> None:
    """Dispose the engine so the next use re-reads the settings (tests, CLI --database)."""
    global _engine, _session_factory
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
        _session_factory = None


def session_factory() -> sessionmaker[Session]:
    """Return the sessionmaker bound to the process-wide engine."""
    get_engine()
    assert _session_factory is not None
    return _session_factory


@contextmanager
def get_session() -> Iterator[Session]:
    """Session for jobs and the CLI: commits on success, rolls back on error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgres(session_or_engine: Session | Engine) -> bool:
    """True when the connection is PostgreSQL (for dialect-specific fast paths)."""
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def write_engine() -> Engine:
    """The process-wide engine for sessions that write: on SQLite their transactions BEGIN IMMEDIATE."""
    return get_engine().execution_options(**{WRITE_OPTION: True})


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _request_session(request: Request) -> Iterator[Session]:
    """One session per request, committed before the response is sent so a failed commit is never a 2xx."""
    factory = session_factory()
    session = factory() if request.method in SAFE_METHODS else factory(bind=write_engine())
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _db_session_alias():
    from typing import Annotated

    from fastapi import Depends

    return Annotated[Session, Depends(_request_session, scope="function")]


DbSession = _db_session_alias()
