"""Shared fixtures: a migrated database (SQLite file by default, PostgreSQL with ITSM_TEST_DATABASE_URL),
an app client, and one real user per role with bearer tokens."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="itsm-tests-"))
# Settings are read from the environment once: point every path at a throw-away folder before import.
os.environ["ITSM_DATABASE_URL"] = os.environ.get("ITSM_TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.db'}"
os.environ["ITSM_DATA_DIR"] = str(_TMP / "var")
os.environ.setdefault("ITSM_MODELS_DIR", str(_TMP / "models"))
os.environ["ITSM_SECRET_KEY"] = "test-secret-key-that-is-long-enough-for-hs256"
os.environ["ITSM_PASSWORD_HASH_TIME_COST"] = "1"
os.environ["ITSM_PASSWORD_HASH_MEMORY_KIB"] = "1024"

from sqlalchemy import text  # noqa: E402

from itsm_ai.config import get_settings  # noqa: E402

get_settings.cache_clear()

from itsm_ai import database  # noqa: E402
from itsm_ai.all_models import metadata  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = get_settings().shared_data_dir
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def engine():
    """The migrated test database (schema from the Alembic migrations, not create_all)."""
    from itsm_ai.migrate import upgrade

    database.reset_engine()
    eng = database.get_engine()
    if eng.dialect.name == "postgresql":
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(eng)
    yield eng
    database.reset_engine()


def clean_database(eng) -> None:
    """Empty every table (the list comes from the metadata at call time) and restart ids and numbers at 1.

    DELETE rather than TRUNCATE on PostgreSQL: TRUNCATE of every table costs 0.6-1 s per test there, DELETE of
    the few rows a test writes about 0.1 s. Children go before parents (reverse dependency order).
    """
    from itsm_ai.records.listing import total_cache

    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with eng.begin() as conn:
        for name in tables:
            conn.execute(text(f'DELETE FROM "{name}"'))
        if eng.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(c.oid, 1, false) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'S' AND n.nspname = current_schema()"
                )
            )
        elif _has_sqlite_sequence(conn):
            conn.execute(text("DELETE FROM sqlite_sequence"))
    total_cache.clear()


_clean = clean_database  # the old name, for helpers written against it


def _has_sqlite_sequence(conn) -> bool:
    return bool(conn.execute(text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first())


@pytest.fixture
def db(engine) -> Iterator:
    """An empty database (and task queue) for one test; yields the engine."""
    from itsm_ai import taskqueue

    clean_database(engine)
    taskqueue.queue().flush()  # a task left by an earlier test would name ids the next test reuses
    yield engine


@pytest.fixture
def db_session(db):
    """A session for service-level tests (committed by the test when it needs to)."""
    session = database.session_factory()()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def app(db):
    from itsm_ai.main import create_app

    return create_app(start_worker=False)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@dataclass
class Actor:
    """A real user with a bearer token obtained from the token endpoint."""

    username: str
    role: str
    headers: dict[str, str]


@pytest.fixture
def users(client) -> dict[str, Actor]:
    """admin, agent, agent2, requester, requester2 and data_scientist, each logged in over the API."""
    from itsm_ai.auth import service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role

    spec = {
        "admin": Role.admin,
        "agent": Role.agent,
        "agent2": Role.agent,
        "requester": Role.requester,
        "requester2": Role.requester,
        "data_scientist": Role.data_scientist,
    }
    with database.get_session() as session:
        for name, role in spec.items():
            service.create(
                db_session=session,
                user_in=UserCreate(username=name, role=role, password=PASSWORD),
                actor=None,
            )
    actors = {}
    for name, role in spec.items():
        response = client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        actors[name] = Actor(name, str(role), {"Authorization": f"Bearer {token}"})
    return actors


@pytest.fixture
def shared_data() -> Path:
    """The real data sets beside the repository; tests that need them skip without them."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


def pytest_collection_modifyitems(config, items):
    """Tag every test that touches the database, so the PostgreSQL pass can select them with -m db."""
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
