"""Writing imported records: ids and numbers per batch, bulk inserts (executemany on SQLite, COPY on
PostgreSQL) of records, audit events, state history (ServiceNow logs) and CI links, and the users and groups
rows need (see `itsm_ai.data.importer`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from itertools import repeat
from json.encoder import encode_basestring
from operator import attrgetter
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.orm import Session

from itsm_ai.asset.models import record_cis
from itsm_ai.audit.models import AuditEvent
from itsm_ai.auth.models import User
from itsm_ai.data.import_refs import GROUP_REFS, USER_REF_ROLES, Refs, chunks, lookup_ids
from itsm_ai.data.import_report import ImportReport, ProgressFn
from itsm_ai.data.import_rows import Candidate
from itsm_ai.database import UTCDateTime, utcnow
from itsm_ai.group.models import Group
from itsm_ai.group.service import GROUP_TYPE
from itsm_ai.records import counters
from itsm_ai.records.spec import RecordSpec
from itsm_ai.sla.models import TicketStateHistory
from itsm_ai.workflow.priority import compute_priority

BATCH_SIZE = 2000


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DateTime text ("2016-02-29 01:16:00.000000") of the UTC time, without copies.
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


class BulkWriter:
    """Inserts prepared rows into one table: executemany of the compiled INSERT (SQLite) or COPY (PostgreSQL).

    Values come already in the driver's form (UTC datetimes as the dialect stores them, JSON as text), so no
    per-value SQLAlchemy type processing runs: on SQLite that processing costs as much as the insert itself.
    """

    def __init__(self, db_session: Session, table: Table, columns: Sequence[str]):
        self.connection = db_session.connection()
        self.dialect = self.connection.dialect
        self.postgres = self.dialect.name == "postgresql"
        self.table = table
        self.columns = list(columns)
        if self.postgres:
            quote = self.dialect.identifier_preparer.quote
            self.sql = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in self.columns)}) FROM STDIN"
        else:
            compiled = insert(table).compile(dialect=self.dialect, column_keys=self.columns)
            if list(compiled.positiontup or ()) != self.columns:
                raise RuntimeError(f"unexpected parameter order for {table.name}")
            self.sql = str(compiled)

    def time(self, value: datetime | None) -> Any:
        """A UTC datetime in the form the dialect stores (SQLite: text; PostgreSQL: naive timestamp)."""
        if value is None:
            return None
        if self.postgres:
            return _utc(value).replace(tzinfo=None)
        return _sqlite_time(value)

    def times(self, values: Iterable[datetime | None]) -> list[Any]:
        """Many datetimes in the dialect's stored form (None stays None)."""
        if self.postgres:
            return [None if v is None else _utc(v).replace(tzinfo=None) for v in values]
        # Many values are the same object (the import time), so each distinct one is formatted once.
        memo: dict[datetime, str] = {}
        return [None if v is None else memo.get(v) or memo.setdefault(v, _sqlite_time(v)) for v in values]

    def write(self, rows: list[tuple]) -> None:
        """Insert the rows (tuples in column order)."""
        if not rows:
            return
        if self.postgres:
            raw = self.connection.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(self.sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            self.connection.exec_driver_sql(self.sql, rows)


def reserve_ids(db_session: Session, table: Table, count: int) -> list[int]:
    """Ids for `count` new rows, taken before the insert so audit rows can point at them."""
    connection = db_session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": count},
        )
        return [r[0] for r in rows]
    # SQLite: the number allocation before this took the database's write lock, so no id can move meanwhile.
    top = connection.execute(text(f'SELECT coalesce(max(id), 0) FROM "{table.name}"')).scalar_one()
    if not _sqlite_autoincrement(connection, table.name):
        return list(range(top + 1, top + 1 + count))
    # AUTOINCREMENT keeps its high-water mark in sqlite_sequence: max(id) alone would hand out the id of a
    # deleted newest row, and audit events and comments point at records by id. The mark moves past the
    # reserved ids at once, so nothing inserted later (by the ORM) can be given one of them.
    seq = connection.execute(
        text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table.name}
    ).scalar()
    top = max(top, seq or 0)
    params = {"t": table.name, "seq": top + count}
    if seq is None:
        connection.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :seq)"), params)
    else:
        connection.execute(text("UPDATE sqlite_sequence SET seq = :seq WHERE name = :t"), params)
    return list(range(top + 1, top + 1 + count))


def _sqlite_autoincrement(connection, table_name: str) -> bool:
    # Tables are AUTOINCREMENT since migration 0009; an older or hand-made schema still allocates max(id) + 1.
    sql = connection.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table_name}
    ).scalar()
    return "AUTOINCREMENT" in (sql or "").upper()


def create_people(db_session: Session, refs: Refs, report: ImportReport) -> None:
    """Create missing users and groups in bulk, as ensure_user / group.ensure would (one query per batch)."""
    now = utcnow()
    connection = db_session.connection()
    if refs.new_users:
        rows = [
            {
                "username": name,
                "role": role,
                "active": True,
                "hashed_password": None,
                "created_at": now,
                "version": 1,
            }
            for name, role in refs.new_users.items()
        ]
        for chunk in chunks(rows, BATCH_SIZE):
            connection.execute(insert(User.__table__), list(chunk))
        refs.users.update(lookup_ids(db_session, User, "username", refs.new_users))
        report.users_created = len(refs.new_users)
    if refs.new_groups:
        rows = [{"name": name, "active": True, "created_at": now, "version": 1} for name in refs.new_groups]
        for chunk in chunks(rows, BATCH_SIZE):
            connection.execute(insert(Group.__table__), list(chunk))
        refs.groups.update(lookup_ids(db_session, Group, "name", refs.new_groups))
        report.groups_created = len(refs.new_groups)
        # Groups are records of the store: their list total is the counter's row count.
        counters.allocate_numbers(db_session=db_session, record_type=GROUP_TYPE, count=len(refs.new_groups))


@lru_cache
def _column_defaults(table: Table) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if default is not None and default.is_scalar:
            value = default.arg
            defaults[column.name] = value.value if isinstance(value, Enum) else value
        else:
            defaults[column.name] = None
    return defaults


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


_PRIORITIES = {(i, u): int(compute_priority(i, u)) for i in (1, 2, 3) for u in (1, 2, 3)}


def write_records(
    db_session: Session,
    spec: RecordSpec,
    candidates: list[Candidate],
    models: list[BaseModel],
    refs: Refs,
    report: ImportReport,
    actor,
    batch_size: int,
    progress: ProgressFn | None,
) -> list[int]:
    """Insert the records, their audit events, state history and CI links in batches (rows are built column
    by column); returns the new records' ids."""
    table: Table = spec.model.__table__
    columns = [c.name for c in table.columns]
    column_set = set(columns)
    writer = BulkWriter(db_session, table, columns)
    audit_columns = [c.name for c in AuditEvent.__table__.columns if c.name != "id"]
    audit_writer = BulkWriter(db_session, AuditEvent.__table__, audit_columns)
    links_writer = BulkWriter(db_session, record_cis, ["record_type", "record_id", "asset_id"])
    history_writer = BulkWriter(
        db_session, TicketStateHistory.__table__, ["record_type", "record_id", "state", "at"]
    )
    written: list[int] = []
    defaults = _column_defaults(table)
    schema_fields = [n for n in type(models[0]).model_fields if n in column_set and n not in spec.refs]
    time_fields = [n for n in schema_fields if isinstance(table.c[n].type, UTCDateTime)]
    json_fields = [n for n in schema_fields if isinstance(table.c[n].type, JSON)]
    plain_fields = [n for n in schema_fields if n not in time_fields and n not in json_fields]
    actor_id, actor_name = (actor.id, actor.username) if actor is not None else (None, "system")
    now = utcnow()
    now_db = writer.time(now)
    quoted_file = encode_basestring(Path(report.path).name)
    record_type = spec.record_type
    has_cis = "configuration_items" in type(models[0]).model_fields
    total = len(models)
    for start in range(0, total, batch_size):
        batch_c = candidates[start : start + batch_size]
        batch = models[start : start + batch_size]
        n = len(batch)
        first = counters.allocate_numbers(db_session=db_session, record_type=record_type, count=n)
        ids = reserve_ids(db_session, table, n)
        numbers = [counters.format_number(spec.prefix, first + k) for k in range(n)]
        cols: dict[str, list[Any]] = {"id": ids, "number": numbers}
        # States and reasons are StrEnums: sqlite3 and psycopg store them as their text value as they are.
        for name in plain_fields:
            cols[name] = list(map(attrgetter(name), batch))
        for name in json_fields:
            cols[name] = [
                json.dumps(v, default=str, ensure_ascii=False) if v else None
                for v in map(attrgetter(name), batch)
            ]
        for name, ref in spec.refs.items():
            if name in USER_REF_ROLES:
                lookup = refs.users
            elif name in GROUP_REFS:
                lookup = refs.groups
            else:
                lookup = refs.records[name]
            cols[ref.fk] = [lookup[v] if v else None for v in map(attrgetter(name), batch)]
        times = {name: list(map(attrgetter(name), batch)) for name in time_fields}
        times["opened_at"] = [v or now for v in times["opened_at"]]
        # A resolved or closed ticket without its times gets the import time, as an API create would.
        states = cols["state"]
        resolved = times.get("resolved_at") or [None] * n
        closed = times.get("closed_at") or [None] * n
        for k, state in enumerate(states):
            if state == "closed":
                closed[k] = closed[k] or now
                resolved[k] = resolved[k] or closed[k]
            elif state == "resolved":
                resolved[k] = resolved[k] or now
        times["resolved_at"], times["closed_at"] = resolved, closed
        for name, values in times.items():
            cols[name] = writer.times(values)
        if record_type == "service_request":
            # As the API does: the catalog item's name, else a generic title.
            cols["short_description"] = [
                s or m.catalog_item or "Service request"
                for s, m in zip(cols["short_description"], batch, strict=True)
            ]
        cols["priority"] = [_PRIORITIES[p] for p in zip(cols["impact"], cols["urgency"], strict=True)]
        for name in ("created_at", "updated_at"):
            cols[name] = [now_db] * n
        cols["version"] = [1] * n
        rows = list(zip(*(cols[c] if c in cols else repeat(defaults[c], n) for c in columns), strict=False))
        audit_rows: list[tuple] = []
        history_rows: list[tuple] = []
        for k, candidate in enumerate(batch_c):
            # The state history the SLA engine and the reports read: the first state from the opening on.
            first = True
            for event in candidate.events or ():
                if event.field == "state":
                    at = min(event.at, times["opened_at"][k]) if first else event.at
                    history_rows.append((record_type, ids[k], str(_plain(event.new)), writer.time(at)))
                    first = False
            for event in candidate.events or ():
                audit_rows.append(
                    (
                        record_type,
                        ids[k],
                        "update",
                        event.field,
                        None if event.old is None else str(_plain(event.old)),
                        None if event.new is None else str(_plain(event.new)),
                        None,
                        event.actor_name,
                        "import",
                        False,
                        writer.time(event.at),
                    )
                )
        # One "import" event per record saying where it came from; the JSON is assembled directly (per row).
        audit_rows.extend(
            zip(
                repeat(record_type),
                ids,
                repeat("import"),
                repeat(None),
                repeat(None),
                [
                    f'{{"correlation_id": {encode_basestring(c.correlation_id)}, "file": {quoted_file}, '
                    f'"line": {c.line}, "number": "{number}"}}'
                    for c, number in zip(batch_c, numbers, strict=True)
                ],
                repeat(actor_id),
                repeat(actor_name),
                repeat("import"),
                repeat(False),
                repeat(now_db),
            )
        )
        writer.write(rows)
        audit_writer.write(audit_rows)
        history_writer.write(history_rows)
        written.extend(ids)
        if has_cis:
            links = [
                (record_type, record_id, refs.assets[asset])
                for record_id, m in zip(ids, batch, strict=True)
                for asset in dict.fromkeys(m.configuration_items)
            ]
            links_writer.write(links)
        report.imported += n
        report.audit_events += len(audit_rows)
        if start == 0:
            report.first_number = numbers[0]
        report.last_number = numbers[-1]
        if progress is not None:
            progress("write", start + n, total)
    return written


SQLITE_IMPORT_CACHE_KIB = 65536


@contextmanager
def bulk_settings(db_session: Session) -> Iterator[None]:
    """SQLite: a 64 MiB page cache for this connection while importing (restored after).

    A ticket table has a dozen indexes; with the default 2 MiB cache their pages are evicted and re-read for
    every batch, which costs about a third of the insert time at 100k rows.
    """
    connection = db_session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={int(previous)}")
