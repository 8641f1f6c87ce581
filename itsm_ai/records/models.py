"""Bookkeeping tables: per-type counters (numbers, row counts, write generation) and idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from itsm_ai.database import Base, UTCDateTime, utcnow


class RecordCounter(Base):
    """Per record type: the next number, the row count and a generation bumped on every write."""

    __tablename__ = "record_counters"

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer, default=1)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyKey(Base):
    """A create request already answered: the same key and body return the same record."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(120))
    request_hash: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "endpoint", "key"),)


def use_sqlite_autoincrement(metadata) -> None:
    """Give every table with a plain integer id AUTOINCREMENT on SQLite (as migration 0009 does), so the id of
    a deleted row is never handed to a new one: audit events and comments point at records by id alone."""
    for table in metadata.tables.values():
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and isinstance(pk[0].type, Integer) and not pk[0].foreign_keys:
            table.dialect_options["sqlite"]["autoincrement"] = True
