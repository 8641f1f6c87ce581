"""Full-text search for `q` on record types with many rows: FTS5 on SQLite, tsvector + GIN on PostgreSQL.

Both index the spec's search fields split into runs of letters and digits, lower-cased, accents kept (FTS5's
unicode61 tokenizer; on PostgreSQL the same split by regexp_replace before the `simple` configuration, whose
parser would otherwise keep e-mail addresses and host names as single words). A query of words only becomes
a phrase whose last word is a prefix ("printer ja" finds "Printer jam"); anything else (punctuation, %, _)
keeps the LIKE substring search. The index is kept in step by the database itself (SQLite triggers on the
record table, a PostgreSQL expression index), so every insert path, the bulk importer's executemany and COPY
included, updates it.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, bindparam, literal_column, select, table, text
from sqlalchemy.orm import Session

# Words only: letters and digits (not `_`, which LIKE users type literally) separated by white space.
_WORDS = re.compile(r"[^\W_]+(?:\s+[^\W_]+)*")
_MAX_WORDS = 16


def words(q: str) -> list[str] | None:
    """The words of a query the index can answer, or None when it needs the LIKE search."""
    text_ = q.strip()
    if not _WORDS.fullmatch(text_):
        return None
    found = text_.lower().split()
    return found if len(found) <= _MAX_WORDS else None


def fts_table(table_name: str) -> str:
    """The SQLite FTS5 table that indexes a record table."""
    return f"{table_name}_fts"


def postgres_document(table_name: str, fields: tuple[str, ...]) -> str:
    """The indexed tsvector expression; queries repeat it verbatim so PostgreSQL matches the index."""
    joined = " || ' ' || ".join(f"coalesce({table_name}.{f}, '')" for f in fields)
    return f"to_tsvector('simple'::regconfig, regexp_replace({joined}, '[^[:alnum:]]+', ' ', 'g'))"


def postgres_index_sql(table_name: str, fields: tuple[str, ...]) -> str:
    """CREATE INDEX for the GIN index over the document (the index build is the back-fill)."""
    document = postgres_document(table_name, fields).replace(f"{table_name}.", "")
    return f"CREATE INDEX ix_{table_name}_fulltext ON {table_name} USING gin ({document})"


def sqlite_ddl(table_name: str, fields: tuple[str, ...]) -> list[str]:
    """The FTS5 external-content table over the fields, its triggers, and the back-fill."""
    fts = fts_table(table_name)
    cols = ", ".join(fields)
    new = ", ".join(f"new.{f}" for f in fields)
    old = ", ".join(f"old.{f}" for f in fields)
    delete = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table_name}', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 0')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table_name} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table_name} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table_name} BEGIN {delete} {insert} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def sqlite_drop(table_name: str) -> list[str]:
    """Statements that remove the FTS5 table and its triggers."""
    fts = fts_table(table_name)
    return [f"DROP TRIGGER IF EXISTS {fts}_{t}" for t in ("ai", "ad", "au")] + [f"DROP TABLE IF EXISTS {fts}"]


def _sqlite_phrase(terms: list[str]) -> str:
    return '"' + " ".join(terms) + '"*'


def is_common(*, db_session: Session, model, terms: list[str], rows: int) -> bool:
    """SQLite: whether the phrase matches so many of `rows` records that walking the sort index and checking
    each record against the matches beats looking every match up and sorting them (SQLite keeps no statistics
    to choose by itself). PostgreSQL's planner has the index's statistics and chooses on its own."""
    if db_session.get_bind().dialect.name != "sqlite":
        return False
    # Looking up m matches costs about m row reads; walking the index about 50 * rows / m cheaper steps.
    threshold = max(2_000, int((rows * 20) ** 0.5))
    fts = fts_table(model.__table__.name)
    found = db_session.scalar(
        text(f"SELECT count(*) FROM (SELECT 1 FROM {fts} WHERE {fts} MATCH :q LIMIT :cap)"),
        {"q": _sqlite_phrase(terms), "cap": threshold},
    )
    return found >= threshold


def match(
    *, dialect: str, model, fields: tuple[str, ...], terms: list[str], common: bool = False
) -> ColumnElement[bool]:
    """The condition "the record's search fields contain the phrase, its last word as a prefix"; `common`
    (SQLite, see is_common) keeps the planner from driving the query by the matches."""
    table_name = model.__table__.name
    if dialect == "postgresql":
        # Words are letters and digits only, so quoting them in tsquery syntax needs no escaping.
        query = " <-> ".join(f"'{t}'" for t in terms) + ":*"
        document = literal_column(postgres_document(table_name, fields))
        # Rendered into the statement (escaped), not sent as a parameter: a prepared statement's generic
        # plan cannot see how rare the words are and would scan by date instead of asking the index.
        tsquery = text("to_tsquery('simple'::regconfig, :fulltext_q)").bindparams(
            bindparam("fulltext_q", query, literal_execute=True)
        )
        return document.op("@@")(tsquery)
    fts = fts_table(table_name)
    phrase = _sqlite_phrase(terms)
    if common:
        # The unary + makes the id unusable as an index key: SQLite walks the sort order and probes the
        # matches (computed once) instead of reading every match and sorting them.
        return text(
            f"+{table_name}.id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH :fulltext_q)"
        ).bindparams(bindparam("fulltext_q", phrase))
    rowids = (
        select(literal_column("rowid"))
        .select_from(table(fts))
        .where(literal_column(fts).op("MATCH")(bindparam("fulltext_q", phrase)))
    )
    return model.id.in_(rowids)
