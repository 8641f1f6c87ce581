"""Fixtures for the multi-process tests: real `itsm-ai serve` and `itsm-ai worker` processes on the
PostgreSQL test database, and users with tokens from them."""

from __future__ import annotations

import httpx
import pytest

from benchmarks._cluster import Cluster
from itsm_ai import database
from tests.conftest import PASSWORD

API = "/api/v1"


@pytest.fixture
def pg(db):
    """The PostgreSQL test database (the tests skip on SQLite: one process is its deployment)."""
    if db.dialect.name != "postgresql":
        pytest.skip("several API and worker processes need PostgreSQL (ITSM_TEST_DATABASE_URL)")
    return db


@pytest.fixture
def cluster(pg, tmp_path):
    """Processes started by the test, every one ended after it."""
    url = pg.url.render_as_string(hide_password=False)
    with Cluster(database_url=url, root=tmp_path, extra_env={"ITSM_TRAINING_LEASE_SECONDS": "3"}) as c:
        yield c
    database.reset_engine()  # the processes' connections are gone; the test's pool may hold dead ones


@pytest.fixture
def accounts(pg) -> dict[str, str]:
    """agent, agent2, requester and data_scientist in the store (tokens come from a started process)."""
    from itsm_ai.auth import service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role

    spec = {
        "agent": Role.agent,
        "agent2": Role.agent,
        "requester": Role.requester,
        "data_scientist": Role.data_scientist,
    }
    with database.get_session() as session:
        for name, role in spec.items():
            user_in = UserCreate(username=name, role=role, password=PASSWORD)
            service.create(db_session=session, user_in=user_in, actor=None)
    return dict.fromkeys(spec, PASSWORD)


def login(base_url: str, username: str) -> dict[str, str]:
    """Bearer headers of a user, from the token endpoint of one process."""
    form = {"username": username, "password": PASSWORD}
    r = httpx.post(f"{base_url}{API}/auth/token", data=form, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
