"""Migration 0022: the daily ticket counts per ticket field, back-filled from the ticket facts."""

from __future__ import annotations

from sqlalchemy import inspect, text

from itsm_ai.database import make_engine
from itsm_ai.migrate import alembic_config, upgrade
from itsm_ai.reports import flows

DAY = 86_400
COLUMNS = (
    "record_type, opened_at, record_id, state, priority, category, assignment_group_id, resolved_at, "
    "closed_at"
)


def _facts() -> list[dict]:
    rows = []
    for i in range(60):
        opened = 1_700_000_000 + i * 20_000
        resolved = opened + (i % 5) * 40_000 if i % 3 else None
        rows.append(
            {
                "record_type": "incident" if i % 7 else "service_request",
                "opened_at": opened if i != 5 else -DAY - 100,  # one before 1970: floored, not truncated
                "record_id": i + 1,
                "state": ("new", "resolved", "closed")[i % 3],
                "priority": 1 + i % 4,
                "category": None if i % 6 == 0 else f"c{i % 3}",
                "assignment_group_id": None,
                "resolved_at": resolved,
                "closed_at": resolved + DAY if resolved and i % 2 else None,
            }
        )
    return rows


def _days(conn) -> dict:
    rows = conn.execute(
        text("SELECT record_type, dimension, day, value, opened, resolved, closed FROM report_ticket_days")
    )
    return {tuple(r[:4]): tuple(r[4:]) for r in rows}


def test_daily_ticket_counts_are_back_filled_and_dropped_on_downgrade(tmp_path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0021")
    facts = _facts()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO groups (name, active, created_at, version) VALUES ('g', 1, '2024-01-01', 1)")
        )
        group = conn.execute(text("SELECT id FROM groups")).scalar()
        for row in facts[::4]:
            row["assignment_group_id"] = group
        marks = ", ".join(f":{c.strip()}" for c in COLUMNS.split(","))
        conn.execute(text(f"INSERT INTO report_tickets ({COLUMNS}) VALUES ({marks})"), facts)
    upgrade(engine, "0022")
    with engine.connect() as conn:
        migrated = _days(conn)
    # Independently: per field value and UTC day (floored), how many tickets each event had.
    expected: dict = {}
    for row in facts:
        for k, event in enumerate(("opened_at", "resolved_at", "closed_at")):
            if row[event] is None:
                continue
            day = row[event] // DAY * DAY
            for dim in ("assignment_group_id", "category", "priority", "state"):
                value = "" if row[dim] is None else str(row[dim])
                counts = expected.setdefault((row["record_type"], dim, day, value), [0, 0, 0])
                counts[k] += 1
    assert migrated == {key: tuple(v) for key, v in expected.items()}
    assert any(day < 0 for (_, _, day, _) in migrated)
    assert any(dim == "assignment_group_id" and value == str(group) for (_, dim, _, value) in migrated)

    from sqlalchemy.orm import Session

    with Session(engine) as session:
        flows.rebuild_ticket_days(db_session=session, record_types=["incident", "service_request"])
        session.commit()
    with engine.connect() as conn:
        assert _days(conn) == migrated

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0021")
    assert "report_ticket_days" not in inspect(engine).get_table_names()
    upgrade(engine)
    with engine.connect() as conn:
        assert _days(conn) == migrated
    engine.dispose()
