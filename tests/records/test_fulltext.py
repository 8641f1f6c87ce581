"""Full-text search: which queries the index answers, and migration 0015's back-fill and triggers."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from itsm_ai.database import make_engine
from itsm_ai.migrate import alembic_config, upgrade
from itsm_ai.records import fulltext

TIME = "2024-01-01 00:00:00"


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("printer", ["printer"]),
        ("  Printer   JAM ", ["printer", "jam"]),
        ("Störung Drucker", ["störung", "drucker"]),
        ("inc0000005", ["inc0000005"]),
        ("100%", None),
        ("Mail_relay", None),
        ("e-mail", None),
        ("gw-01.corp", None),
        ("'quoted'", None),
        ('"x"', None),
        ("a*", None),
        ("", None),
        ("   ", None),
        (" ".join(["w"] * 17), None),  # too many words for one phrase: LIKE
    ],
)
def test_words(q, expected):
    assert fulltext.words(q) == expected


def _insert(conn, n: int, short: str, description: str | None) -> None:
    conn.execute(
        text(
            "INSERT INTO incidents (id, number, short_description, description, state, impact, urgency, "
            "priority, opened_at, created_at, updated_at, version, reopen_count, reassignment_count) "
            "VALUES (:id, :number, :short, :description, 'new', 3, 3, 4, :t, :t, :t, 1, 0, 0)"
        ),
        {"id": n, "number": f"INC{n:07d}", "short": short, "description": description, "t": TIME},
    )


def _matches(conn, query: str) -> list[int]:
    rows = conn.execute(
        text("SELECT rowid FROM incidents_fts WHERE incidents_fts MATCH :q ORDER BY rowid"), {"q": query}
    )
    return [r[0] for r in rows]


def test_migration_backfills_and_triggers_follow_writes(tmp_path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0014")
    with engine.begin() as conn:
        _insert(conn, 1, "Printer jam", "floor 3")
        _insert(conn, 2, "VPN drops", None)
    upgrade(engine, "0015")
    with engine.begin() as conn:
        assert _matches(conn, '"print"*') == [1]  # stored before the migration: back-filled
        _insert(conn, 3, "Second printer", "toner")
        assert _matches(conn, "printer") == [1, 3]
        conn.execute(text("UPDATE incidents SET short_description = 'Scanner' WHERE id = 1"))
        assert _matches(conn, "printer") == [3]
        assert _matches(conn, "scanner") == [1]
        conn.execute(text("UPDATE incidents SET state = 'closed' WHERE id = 3"))  # not a searched field
        assert _matches(conn, "toner") == [3]
        conn.execute(text("DELETE FROM incidents WHERE id = 3"))
        assert _matches(conn, "printer") == []
        # The FTS5 integrity check compares the index with the incidents table it indexes.
        conn.execute(text("INSERT INTO incidents_fts(incidents_fts, rank) VALUES ('integrity-check', 1)"))

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0014")
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE '%_fts%'"))}
    assert names == set()
    engine.dispose()


def test_every_ticket_table_has_its_index_at_head(tmp_path):
    """A later migration that rebuilds a ticket table on SQLite (batch "move and copy") drops its triggers
    silently, and the index would go stale: this fails until that migration re-creates them."""
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        triggers = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
    engine.dispose()
    for table in ("incidents", "problems", "changes", "service_requests"):
        assert {f"{table}_fts_ai", f"{table}_fts_ad", f"{table}_fts_au"} <= triggers
