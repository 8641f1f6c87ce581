"""Human-readable numbers (INC0000001) and O(1) row counts per record type."""

from __future__ import annotations

from sqlalchemy import event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from itsm_ai.records.models import RecordCounter

NUMBER_DIGITS = 7


def format_number(prefix: str, value: int) -> str:
    """INC + zero-padded value (at least seven digits, as ServiceNow)."""
    return f"{prefix}{value:0{NUMBER_DIGITS}d}"


def _ensure(db_session: Session, record_type: str) -> None:
    if db_session.get(RecordCounter, record_type) is not None:
        return
    # Concurrent first writers of a type: one inserts the row, the others wait for it and insert nothing (a
    # plain INSERT made all but one fail on the unique key).
    insert = pg_insert if db_session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db_session.execute(
        insert(RecordCounter)
        .values(record_type=record_type, next_number=1, row_count=0, generation=0)
        .on_conflict_do_nothing(index_elements=["record_type"])
    )


def allocate_numbers(*, db_session: Session, record_type: str, count: int = 1) -> int:
    """Reserve `count` consecutive numbers; returns the first. The row lock serialises concurrent creators."""
    stmt = (
        update(RecordCounter)
        .where(RecordCounter.record_type == record_type)
        .values(
            next_number=RecordCounter.next_number + count,
            row_count=RecordCounter.row_count + count,
            generation=RecordCounter.generation + 1,
        )
        .returning(RecordCounter.next_number)
        .execution_options(synchronize_session=False)
    )
    # Update first: the counter row exists for every type but the first record's, so no lookup per create.
    first = db_session.execute(stmt).scalar_one_or_none()
    if first is None:
        _ensure(db_session, record_type)
        first = db_session.execute(stmt).scalar_one()
    return first - count


def reserve_numbers(*, db_session: Session, record_type: str, count: int = 1) -> int:
    """Reserve `count` numbers for records this session creates; returns the first, and counts the rows and
    bumps the generation when the session commits (`allocate_numbers` in one step on SQLite).

    On PostgreSQL the numbers come from a short transaction of their own, so concurrent creators do not queue
    on the counter row for the whole of each other's create (issue 13: the listeners after the INSERT ran
    with the row locked); a create that rolls back leaves a gap in the numbers, as ServiceNow's do.
    """
    bind = db_session.get_bind()
    if bind.dialect.name != "postgresql":
        return allocate_numbers(db_session=db_session, record_type=record_type, count=count)
    stmt = (
        update(RecordCounter)
        .where(RecordCounter.record_type == record_type)
        .values(next_number=RecordCounter.next_number + count)
        .returning(RecordCounter.next_number)
    )
    with bind.connect() as conn:
        first = conn.execute(stmt).scalar_one_or_none()
        if first is None:
            conn.execute(
                pg_insert(RecordCounter)
                .values(record_type=record_type, next_number=1, row_count=0, generation=0)
                .on_conflict_do_nothing(index_elements=["record_type"])
            )
            first = conn.execute(stmt).scalar_one()
        conn.commit()
    _at_commit(db_session, record_type, rows=count)
    return first - count


_PENDING, _LISTENING = "itsm_counters_at_commit", "itsm_counters_listening"


def _at_commit(db_session: Session, record_type: str, *, rows: int = 0) -> None:
    if not db_session.info.get(_LISTENING):
        db_session.info[_LISTENING] = True
        event.listen(db_session, "before_commit", _apply_pending)
        event.listen(db_session, "after_rollback", _drop_pending)
    pending = db_session.info.setdefault(_PENDING, {})
    counted, bumps = pending.get(record_type, (0, 0))
    pending[record_type] = (counted + rows, bumps + 1)


def _apply_pending(db_session: Session) -> None:
    if db_session.in_nested_transaction():
        return  # a savepoint's release (a listener's begin_nested): the transaction goes on
    pending = db_session.info.pop(_PENDING, None) or {}
    # In a fixed order, so two sessions bumping the same types never wait on each other's rows in a cycle.
    for record_type, (rows, bumps) in sorted(pending.items()):
        _ensure(db_session, record_type)
        db_session.execute(
            update(RecordCounter)
            .where(RecordCounter.record_type == record_type)
            .values(row_count=RecordCounter.row_count + rows, generation=RecordCounter.generation + bumps)
        )


def _drop_pending(db_session: Session) -> None:
    if not db_session.in_nested_transaction():  # a savepoint's rollback leaves the transaction's writes
        db_session.info.pop(_PENDING, None)


def bump_generation_at_commit(*, db_session: Session, record_type: str) -> None:
    """Mark the table as changed when this session commits: the counter row is locked only for the commit,
    not from the write to the end of the transaction (every writer of the type queues on that row)."""
    _at_commit(db_session, record_type)


def record_deleted(*, db_session: Session, record_type: str, count: int = 1) -> None:
    """Count a deletion and bump the generation."""
    _ensure(db_session, record_type)
    db_session.execute(
        update(RecordCounter)
        .where(RecordCounter.record_type == record_type)
        .values(row_count=RecordCounter.row_count - count, generation=RecordCounter.generation + 1)
    )


def bump_generation(*, db_session: Session, record_type: str) -> None:
    """Mark the table as changed so cached filtered totals are recounted."""
    _ensure(db_session, record_type)
    db_session.execute(
        update(RecordCounter)
        .where(RecordCounter.record_type == record_type)
        .values(generation=RecordCounter.generation + 1)
    )


def read(*, db_session: Session, record_type: str) -> tuple[int, int]:
    """(row_count, generation) for a record type, as this session will commit them."""
    row = db_session.execute(
        select(RecordCounter.row_count, RecordCounter.generation).where(
            RecordCounter.record_type == record_type
        )
    ).first()
    rows, generation = (row[0], row[1]) if row else (0, 0)
    # This session's own writes, counted at commit: a list in the same transaction sees them.
    counted, bumps = (db_session.info.get(_PENDING) or {}).get(record_type, (0, 0))
    return rows + counted, generation + bumps


def recount(*, db_session: Session, record_type: str, model) -> int:
    """Recompute the row count from the table (after imports or repairs)."""
    from sqlalchemy import func

    _ensure(db_session, record_type)
    n = db_session.scalar(select(func.count()).select_from(model)) or 0
    db_session.execute(
        update(RecordCounter)
        .where(RecordCounter.record_type == record_type)
        .values(row_count=n, generation=RecordCounter.generation + 1)
    )
    return n
