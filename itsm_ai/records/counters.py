"""Human-readable numbers (INC0000001) and O(1) row counts per record type."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from itsm_ai.records.models import RecordCounter

NUMBER_DIGITS = 7


def format_number(prefix: str, value: int) -> str:
    """INC + zero-padded value (at least seven digits, as ServiceNow)."""
    return f"{prefix}{value:0{NUMBER_DIGITS}d}"


def _ensure(db_session: Session, record_type: str) -> None:
    if db_session.get(RecordCounter, record_type) is None:
        # Two first writes of a type at once (parallel creates on an empty table) both get here: the later
        # insert does nothing instead of failing its request with a unique violation.
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
    """(row_count, generation) for a record type."""
    row = db_session.execute(
        select(RecordCounter.row_count, RecordCounter.generation).where(
            RecordCounter.record_type == record_type
        )
    ).first()
    return (row[0], row[1]) if row else (0, 0)


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
