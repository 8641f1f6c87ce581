"""`q` on ticket lists through the full-text index (FTS5 on SQLite, tsvector GIN on PostgreSQL): word and
prefix matches, the LIKE fallback for punctuation, and the index following every write path (API create,
update, delete, the bulk importer)."""

from __future__ import annotations

import csv

from sqlalchemy import text

from itsm_ai import database
from tests.api.conftest import API


def _found(client, users, q: str, path: str = "incidents") -> set[str]:
    r = client.get(f"{API}/{path}", params={"q": q}, headers=users["agent"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return {i["short_description"] for i in body["items"]}


def test_words_prefixes_and_phrases(client, users, make):
    make.incident(short_description="Printer jam on floor 3", description="The tray is stuck")
    make.incident(short_description="VPN drops", description="Reconnects to gw-01.corp.example every hour")
    make.incident(short_description="Laserprinter offline")
    assert _found(client, users, "printer") == {"Printer jam on floor 3"}
    assert _found(client, users, "PRIN") == {"Printer jam on floor 3"}  # a word's prefix
    assert _found(client, users, "printer ja") == {"Printer jam on floor 3"}  # phrase, last word a prefix
    assert _found(client, users, "jam printer") == set()  # a phrase keeps its word order
    assert _found(client, users, "tray stuck") == set()  # not adjacent
    assert _found(client, users, "tray is") == {"Printer jam on floor 3"}  # the description is searched
    assert _found(client, users, "corp") == {"VPN drops"}  # host names split into words on both databases
    # Words are matched from their start: the index cannot answer an infix, which LIKE found.
    assert _found(client, users, "rinter") == set()
    assert _found(client, users, "laserprinter") == {"Laserprinter offline"}


def test_punctuation_keeps_the_substring_search(client, users, make):
    make.incident(short_description="Mail_relay down", description="gw-01.corp.example refuses 100% of mail")
    make.incident(short_description="Mail relay slow")
    assert _found(client, users, "gw-01.corp") == {"Mail_relay down"}
    assert _found(client, users, "l_r") == {"Mail_relay down"}
    assert _found(client, users, "100%") == {"Mail_relay down"}
    # Words go to the index, which splits stored text at punctuation as well as at spaces.
    assert _found(client, users, "mail relay") == {"Mail relay slow", "Mail_relay down"}


def test_the_index_follows_updates_deletes_and_other_ticket_types(client, users, make):
    first = make.incident(short_description="Keyboard missing keys")
    make.problem(short_description="Keyboard firmware defect")
    assert _found(client, users, "keyboard") == {"Keyboard missing keys"}
    assert _found(client, users, "keyboard", path="problems") == {"Keyboard firmware defect"}
    make.patch(f"incidents/{first['number']}", {"short_description": "Mouse wheel broken"})
    assert _found(client, users, "keyboard") == set()
    assert _found(client, users, "wheel") == {"Mouse wheel broken"}
    make.patch(f"incidents/{first['number']}", {"description": "keyboard too"})
    assert _found(client, users, "keyboard") == {"Mouse wheel broken"}
    r = client.delete(f"{API}/incidents/{first['number']}", headers=users["admin"].headers)
    assert r.status_code == 204
    assert _found(client, users, "wheel") == set()


def test_bulk_import_is_searchable(client, users, tmp_path):
    from itsm_ai.data.importer import import_csv

    path = tmp_path / "history.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["short_description", "description"])
        for i in range(30):
            writer.writerow([f"Imported ticket {i}", "quokka sighting" if i % 10 == 0 else "nothing"])
    report = import_csv(
        path=path, mapping={"short_description": "short_description", "description": "description"}
    )
    assert report.ok and report.imported == 30
    assert _found(client, users, "quokka") == {f"Imported ticket {i}" for i in (0, 10, 20)}


def test_requesters_search_only_their_own(client, users, make):
    make.incident(as_="requester", short_description="Badge reader broken")
    make.incident(short_description="Badge printer empty", caller="requester2")
    r = client.get(f"{API}/incidents", params={"q": "badge"}, headers=users["requester"].headers)
    assert r.status_code == 200
    assert [i["short_description"] for i in r.json()["items"]] == ["Badge reader broken"]
    assert r.json()["total"] == 1


def test_the_query_uses_the_index(client, users, make):
    """The planner answers a word search from the full-text index, not by scanning the table."""
    from sqlalchemy import select

    from itsm_ai.records import fulltext
    from itsm_ai.ticket.models import Incident

    engine = database.get_engine()
    dialect = engine.dialect.name
    condition = fulltext.match(
        dialect=dialect, model=Incident, fields=("short_description", "description"), terms=["printer"]
    )
    stmt = select(Incident.id).where(condition)
    compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if dialect == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: force the choice of index
            plan = " ".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
            assert "ix_incidents_fulltext" in plan
        else:
            plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "VIRTUAL TABLE INDEX" in plan and "incidents_fts" in plan


def test_common_words_walk_the_sort_order_with_the_same_answer(client, users, make, monkeypatch):
    """SQLite answers a word most records contain by walking the sort index; the rows are the same."""
    from itsm_ai.records import fulltext

    for i in range(6):
        make.incident(short_description=f"Printer {i} jam", opened_at=f"2024-01-0{1 + i}T09:00:00Z")
    make.incident(short_description="Scanner")
    queries = ("printer", "printer 3", "jam", "scanner", "nothing")
    plain = {
        q: client.get(f"{API}/incidents", params={"q": q}, headers=users["agent"].headers).json()
        for q in queries
    }
    monkeypatch.setattr(fulltext, "is_common", lambda **kw: True)
    for q in queries:
        common = client.get(f"{API}/incidents", params={"q": q}, headers=users["agent"].headers).json()
        assert common == plain[q]
    assert [i["short_description"] for i in plain["printer"]["items"]] == [
        f"Printer {i} jam" for i in range(5, -1, -1)
    ]
    assert plain["printer 3"]["total"] == 1 and plain["nothing"]["total"] == 0


def test_is_common_counts_up_to_the_threshold(db, make):
    from itsm_ai.records import fulltext
    from itsm_ai.ticket.models import Incident

    make.incident(short_description="Printer jam")
    with database.get_session() as session:
        assert fulltext.is_common(db_session=session, model=Incident, terms=["printer"], rows=10**9) is False
