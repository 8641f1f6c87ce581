"""Migration 0009 on SQLite: tables are rebuilt with AUTOINCREMENT without losing rows or links."""

from __future__ import annotations

from sqlalchemy import text

from itsm_ai.database import make_engine
from itsm_ai.migrate import alembic_config, upgrade

TIME = "2024-01-01 00:00:00"


def _table_sql(conn, name: str) -> str:
    return conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}).scalar_one()


def _links(conn) -> tuple:
    return (
        conn.execute(text("SELECT group_id, user_id FROM group_members")).fetchall(),
        conn.execute(text("SELECT manager_id FROM groups")).fetchall(),
        conn.execute(text("SELECT assignment_group_id, caller_id FROM incidents")).fetchall(),
    )


def test_rebuild_keeps_rows_links_and_never_reuses_ids(tmp_path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, role, active, created_at, version) "
                "VALUES (1, 'u', 'agent', 1, :t, 1)"
            ),
            {"t": TIME},
        )
        conn.execute(
            text(
                "INSERT INTO groups (id, name, active, created_at, version, manager_id) "
                "VALUES (5, 'g', 1, :t, 1, 1)"
            ),
            {"t": TIME},
        )
        conn.execute(text("INSERT INTO group_members VALUES (5, 1)"))
        conn.execute(
            text(
                "INSERT INTO incidents (id, number, short_description, state, impact, urgency, priority, "
                "opened_at, created_at, updated_at, version, reopen_count, reassignment_count, "
                "assignment_group_id, caller_id) "
                "VALUES (3, 'INC3', 'x', 'new', 3, 3, 4, :t, :t, :t, 1, 0, 0, 5, 1)"
            ),
            {"t": TIME},
        )
    # 0008 then 0009 in one run: the rebuild starts inside the transaction 0008's version bump opened.
    upgrade(engine, "0009")
    with engine.connect() as conn:
        assert _links(conn) == ([(5, 1)], [(1,)], [(5, 1)])
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
        for table in ("users", "groups", "incidents", "audit_events", "comments"):
            assert "AUTOINCREMENT" in _table_sql(conn, table), table
        indexes = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'uq_incidents_correlation_id'")
        )
        assert "WHERE" in indexes.scalar_one()  # the partial unique index survives the rebuild
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM incidents WHERE id = 3"))
        conn.execute(
            text(
                "INSERT INTO incidents (number, short_description, state, impact, urgency, priority, "
                "opened_at, created_at, updated_at, version, reopen_count, reassignment_count) "
                "VALUES ('INC4', 'y', 'new', 3, 3, 4, :t, :t, :t, 1, 0, 0)"
            ),
            {"t": TIME},
        )
        assert conn.execute(text("SELECT id FROM incidents")).scalar_one() == 4

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    with engine.connect() as conn:
        assert "AUTOINCREMENT" not in _table_sql(conn, "incidents")
        assert _links(conn)[:2] == ([(5, 1)], [(1,)])
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
