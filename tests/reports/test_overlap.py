"""Overlapped walks (`reports.overlap`): the same figures as one after the other, helper connections bounded
and always given back, a session's own writes seen, concurrent report requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import insert, select, text

from tests.api.conftest import API
from tests.reports.conftest import FACTS, NOW, RANGE, T0


def _settings():
    from itsm_ai.config import get_settings

    return get_settings()


def _resolution_time(session, group_by="group", interval="month") -> list[dict]:
    from itsm_ai.reports import service

    query = service.parse_query(
        db_session=session,
        metric="resolution-time",
        group_by=group_by,
        interval=interval,
        tz="UTC",
        now=NOW,
        **RANGE,
    )
    return service.run(db_session=session, query=query)["items"]


@pytest.fixture
def helpers(monkeypatch):
    """The helper threads started (their task names), counted."""
    from itsm_ai.reports import overlap

    started = []
    start = overlap._start

    def spy(db_session, task):
        started.append(threading.current_thread().name)
        return start(db_session, task)

    monkeypatch.setattr(overlap, "_start", spy)
    return started


@pytest.mark.parametrize("group_by", ["group", "assignee"])
def test_overlapped_walks_give_the_figures_of_one_after_the_other(facts, helpers, monkeypatch, group_by):
    from itsm_ai import database
    from itsm_ai.reports import overlap

    with database.get_session() as session:
        together = _resolution_time(session, group_by)
    assert len(helpers) == 1 and overlap.slots_in_use() == 0
    monkeypatch.setattr(_settings(), "reports_overlap_connections", 0)
    with database.get_session() as session:
        alone = _resolution_time(session, group_by)
    assert len(helpers) == 1  # none started without a slot
    assert together == alone


def test_a_session_that_wrote_sees_its_own_rows(facts, helpers):
    from itsm_ai import database

    with database.get_session() as session:
        before = _resolution_time(session, interval="all")
    session = database.session_factory()()
    try:
        row = {**facts[0], "record_id": 10_000, "assignment_group_id": None}
        row.update(resolved_at=T0 + 3600, opened_at=T0, first_response_at=T0 + 60)
        session.execute(insert(FACTS), [row])  # written, not committed: only this session sees it
        after = _resolution_time(session, interval="all")
    finally:
        session.rollback()
        session.close()
    assert len(helpers) == 1  # the first report only
    ungrouped = {r["group"]: r for r in before}[None]
    assert {r["group"]: r for r in after}[None]["resolved"] == ungrouped["resolved"] + 1
    assert {r["group"]: r for r in after}[None]["responded"] == ungrouped["responded"] + 1


def test_a_failing_helper_fails_the_report_and_gives_its_connection_back(db):
    from itsm_ai import database
    from itsm_ai.reports import overlap

    def fails(session):
        session.execute(text("SELECT 1"))
        raise ValueError("walk failed")

    with database.get_session() as session:
        session.execute(text("SELECT 1"))
        with pytest.raises(ValueError, match="walk failed"):
            overlap.run_together(session, [lambda s: s.execute(text("SELECT 2")).scalar(), fails])
        assert overlap.slots_in_use() == 0
        # And a failing first walk still waits for its helper before raising.
        with pytest.raises(ValueError, match="walk failed"):
            overlap.run_together(session, [fails, lambda s: s.execute(text("SELECT 2")).scalar()])
        assert overlap.slots_in_use() == 0


def test_no_more_helpers_than_the_setting_the_rest_run_on_the_session(db, helpers, monkeypatch):
    from itsm_ai import database
    from itsm_ai.reports import overlap

    monkeypatch.setattr(_settings(), "reports_overlap_connections", 1)
    seen = []

    def task(value):
        def run(session):
            seen.append(session)
            if threading.current_thread().name == "report-walk":
                time.sleep(0.3)  # holds its slot while the request's thread runs the others
            return session.execute(select(text(str(value)))).scalar()

        return run

    with database.get_session() as session:
        assert overlap.run_together(session, [task(i) for i in range(4)]) == [0, 1, 2, 3]
    assert len(helpers) == 1 and overlap.slots_in_use() == 0
    assert sum(s is session for s in seen) == 3


def test_settings_keep_helpers_within_the_pool_reserve():
    from pydantic import ValidationError

    from itsm_ai.config import Settings

    with pytest.raises(ValidationError, match="reports_overlap_connections"):
        Settings(database_pool_reserve=1, reports_overlap_connections=2)
    # A configuration that left it alone still starts: the default is cut to a smaller reserve.
    assert Settings(database_pool_reserve=1).reports_overlap_connections == 1
    assert Settings(database_pool_reserve=0).reports_overlap_connections == 0


def test_concurrent_report_requests_answer_the_same_figures(client, users, facts, helpers):
    from itsm_ai.reports import overlap

    query = f"from={RANGE['start']}&to={RANGE['end']}&tz=UTC"
    paths = [
        f"{API}/reports/resolution-time?{query}&group_by=group",
        f"{API}/reports/resolution-time?{query}&group_by=assignee",
        f"{API}/reports/resolution-time?{query}&interval=week",
    ]

    def get(path):
        response = client.get(path, headers=users["agent"].headers)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    expected = [get(path) for path in paths]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(get, [paths[i % 3] for i in range(24)]))
    assert all(answer == expected[i % 3] for i, answer in enumerate(answers))
    assert len(helpers) > 3 and overlap.slots_in_use() == 0


def test_only_a_read_committed_session_that_has_not_written_overlaps(db):
    from itsm_ai import database
    from itsm_ai.reports import overlap

    with database.get_session() as session:
        session.execute(text("SELECT 1"))
        assert overlap.overlappable(session)  # a file or a server, reads only
    session = database.session_factory()()
    try:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for every statement: a helper's own would differ.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        else:
            session.connection().exec_driver_sql("BEGIN")  # an explicit read transaction: one snapshot
        session.execute(text("SELECT 1"))
        assert not overlap.overlappable(session)
    finally:
        session.rollback()
        session.close()
    # A session bound to one connection (perhaps inside an outer transaction) keeps to it.
    from sqlalchemy.orm import Session

    with database.get_engine().connect() as connection, Session(bind=connection) as bound:
        assert not overlap.overlappable(bound)
