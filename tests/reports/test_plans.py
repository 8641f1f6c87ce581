"""The report walks read the indexes made for them (SQLite's query plans; PostgreSQL plans by statistics)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.conftest import clean_database


@pytest.fixture
def statements(engine):
    """The SQL and parameters of every statement run while the test runs."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL picks its plans from the table's statistics, not from the query alone")
    clean_database(engine)
    seen: list[tuple[str, tuple]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    from itsm_ai import database

    # The engine the sessions use now: a test before this one may have replaced the session-wide one.
    current = database.get_engine()
    event.listen(current, "before_cursor_execute", record)
    yield seen
    event.remove(current, "before_cursor_execute", record)


def test_backlog_age_crossings_walk_the_partial_index_of_lingering_tickets(engine, statements):
    from itsm_ai import database
    from itsm_ai.reports import service

    with database.get_session() as session:
        query = service.parse_query(db_session=session, metric="backlog", group_by="group", tz="UTC")
        service.run(db_session=session, query=query)
    crossings = [(sql, params) for sql, params in statements if "ended_at > opened_at + 86400" in sql]
    assert len(crossings) == 4  # one walk per age bound
    raw = engine.raw_connection()
    try:
        for sql, params in crossings:
            plan = " ".join(row[3] for row in raw.cursor().execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert "ix_report_tickets_lingered" in plan, plan
    finally:
        raw.close()
