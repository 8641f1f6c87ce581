"""Migration 0010: the configuration tables get counter rows seeded from what is stored (lists' totals)."""

from __future__ import annotations

from sqlalchemy import text

from itsm_ai.database import make_engine
from itsm_ai.migrate import alembic_config, upgrade

TIME = "2024-01-01 00:00:00"


def _counters(conn) -> dict[str, tuple[int, int]]:
    rows = conn.execute(text("SELECT record_type, row_count, next_number FROM record_counters")).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_counters_are_seeded_from_the_stored_rows_and_dropped_on_downgrade(tmp_path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0009")
    with engine.begin() as conn:
        for i in (1, 2, 3):
            conn.execute(
                text("INSERT INTO groups (name, active, created_at, version) VALUES (:n, 1, :t, 1)"),
                {"n": f"g{i}", "t": TIME},
            )
        conn.execute(
            text(
                "INSERT INTO sla_calendars (name, definition, created_at, updated_at, version) "
                "VALUES ('Office', '{}', :t, :t, 1)"
            ),
            {"t": TIME},
        )
        # A stale counter (a group created by the old code path) is replaced, not added to.
        conn.execute(text("INSERT INTO record_counters VALUES ('group', 1, 1, 7)"))
    upgrade(engine, "0010")
    with engine.connect() as conn:
        counters = _counters(conn)
    assert counters["group"] == (3, 4)
    assert counters["sla_calendar"] == (1, 2)
    assert counters["sla_policy"] == counters["automation_rule"] == counters["webhook"] == (0, 1)

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
    with engine.connect() as conn:
        assert (
            set(_counters(conn)) & {"group", "sla_calendar", "sla_policy", "automation_rule", "webhook"}
            == set()
        )
    engine.dispose()
