"""Migration 0021: the daily suggestion counts per ticket field, back-filled from the suggestion facts."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import inspect, text

from itsm_ai.database import make_engine
from itsm_ai.migrate import alembic_config, upgrade
from itsm_ai.reports import flows

DAY = 86_400
COLUMNS = (
    "record_type, field, model, model_version, opened_at, record_id, status, feedback, state, priority, "
    "category, assignment_group_id, assigned_to_id"
)


def _facts() -> list[dict]:
    rows = []
    for i in range(40):
        for field in ("category", "priority"):
            rows.append(
                {
                    "record_type": "incident" if i % 5 else "service_request",
                    "field": field,
                    "model": "m" if i % 7 else "",
                    "model_version": f"v{i % 3}",
                    "opened_at": 1_700_000_000 + i * 7_000,
                    "record_id": i + 1,
                    "status": ("suggested", "applied", "abstained")[i % 3],
                    "feedback": (None, "accepted", "overridden")[i % 4 % 3],
                    "state": ("new", "closed")[i % 2],
                    "priority": 1 + i % 4,
                    "category": None if i % 6 == 0 else f"c{i % 3}",
                    "assignment_group_id": None,
                    "assigned_to_id": None,
                }
            )
    return rows


def _days(conn) -> Counter:
    rows = conn.execute(
        text(
            "SELECT record_type, dimension, field, model, model_version, day, value, status, feedback, "
            "tickets FROM report_suggestion_days"
        )
    )
    return Counter({tuple(r[:-1]): r[-1] for r in rows})


def test_daily_counts_are_back_filled_and_dropped_on_downgrade(tmp_path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0020")
    facts = _facts()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO groups (name, active, created_at, version) VALUES ('g', 1, '2024-01-01', 1)")
        )
        group = conn.execute(text("SELECT id FROM groups")).scalar()
        for row in facts[::3]:
            row["assignment_group_id"] = group
        values = ", ".join(f":{c.strip()}" for c in COLUMNS.split(","))
        conn.execute(text(f"INSERT INTO report_suggestions ({COLUMNS}) VALUES ({values})"), facts)
    expected = Counter(key for row in facts for key in flows._day_keys(row))
    assert any(key[1] == "assignment_group_id" and key[6] == str(group) for key in expected)

    upgrade(engine, "0021")
    with engine.connect() as conn:
        assert _days(conn) == expected
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0020")
    assert "report_suggestion_days" not in inspect(engine).get_table_names()
    upgrade(engine, "0021")
    with engine.connect() as conn:
        assert _days(conn) == expected
    engine.dispose()
