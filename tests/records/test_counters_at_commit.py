"""The counter row is written at commit (issue 13's load test: every incident writer queued on it from its
own write to the end of its transaction, listeners included)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from itsm_ai import database
from itsm_ai.records import counters
from itsm_ai.records import service as record_service
from itsm_ai.ticket.service import INCIDENT

ON_SQLITE = os.environ["ITSM_DATABASE_URL"].startswith("sqlite")


def _create(session, title: str):
    return record_service.create(
        db_session=session,
        spec=INCIDENT,
        data=INCIDENT.create_schema(short_description=title).model_dump(),
        actor=None,
    )


def _edit(session, ref: int = 1):
    obj = record_service.get(db_session=session, spec=INCIDENT, ref=ref)
    data = {"version": obj.version, "description": "x"}
    return record_service.update(db_session=session, spec=INCIDENT, obj=obj, data=data, actor=None)


def test_counts_and_generation_move_at_commit_and_not_on_rollback(db):
    with database.get_session() as session:
        _create(session, "first")
    with database.get_session() as session:
        rows, generation = counters.read(db_session=session, record_type="incident")
    assert rows == 1
    with database.get_session() as session:
        _edit(session)
    with database.get_session() as session:
        assert counters.read(db_session=session, record_type="incident") == (1, generation + 1)
    session = database.session_factory()()
    try:
        _create(session, "rolled back")
        session.rollback()
    finally:
        session.close()
    with database.get_session() as session:
        assert counters.read(db_session=session, record_type="incident") == (1, generation + 1)
        second = _create(session, "second")
    with database.get_session() as session:
        assert counters.read(db_session=session, record_type="incident") == (2, generation + 2)
    # A rolled-back create keeps its number on PostgreSQL (numbers come from their own transaction).
    assert second.number == ("INC0000002" if ON_SQLITE else "INC0000003")


@pytest.mark.skipif(ON_SQLITE, reason="PostgreSQL row locks (SQLite serialises writers)")
def test_a_create_does_not_wait_for_an_open_update_of_another_incident(db):
    with database.get_session() as session:
        _create(session, "being edited")
    editing = database.session_factory()()
    try:
        # The update has run its listeners and is not committed yet (a slow response, a slow listener).
        _edit(editing)
        with database.get_session() as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            created = _create(other, "meanwhile")
        editing.commit()
    finally:
        editing.rollback()
        editing.close()
    assert created.number == "INC0000002"
    with database.get_session() as session:
        assert counters.read(db_session=session, record_type="incident")[0] == 2


def test_a_savepoint_inside_the_transaction_neither_applies_nor_drops_the_pending_counts(db):
    with database.get_session() as session:
        _create(session, "first")
    with database.get_session() as session:
        before = counters.read(db_session=session, record_type="incident")
    with database.get_session() as session:
        counters.bump_generation_at_commit(db_session=session, record_type="incident")
        with session.begin_nested():  # released: not the commit yet
            pass
        with database.get_session() as other:
            assert counters.read(db_session=other, record_type="incident") == before
        # The session itself reads what it will commit (a list in the same transaction sees its own write).
        assert counters.read(db_session=session, record_type="incident") == (before[0], before[1] + 1)
        try:
            with session.begin_nested():
                raise ValueError
        except ValueError:
            pass
    with database.get_session() as session:
        assert counters.read(db_session=session, record_type="incident") == (before[0], before[1] + 1)
