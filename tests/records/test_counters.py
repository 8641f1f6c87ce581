"""Per-type counters: sequential numbers, O(1) row counts and the write generation guarding cached totals."""

from __future__ import annotations

import pytest

from itsm_ai.records import counters
from itsm_ai.ticket.models import Incident


def test_format_number_pads_to_seven_digits():
    assert counters.format_number("INC", 1) == "INC0000001"
    assert counters.format_number("KB", 42) == "KB0000042"
    assert counters.format_number("CHG", 12345678) == "CHG12345678"  # grows past seven digits


def test_unknown_type_reads_as_empty(db_session):
    assert counters.read(db_session=db_session, record_type="nothing") == (0, 0)


def test_allocate_is_sequential_and_counts_rows(db_session):
    firsts = [counters.allocate_numbers(db_session=db_session, record_type="incident") for _ in range(3)]
    assert firsts == [1, 2, 3]
    assert counters.read(db_session=db_session, record_type="incident") == (3, 3)
    block = counters.allocate_numbers(db_session=db_session, record_type="incident", count=10)
    assert block == 4
    assert counters.allocate_numbers(db_session=db_session, record_type="incident") == 14
    assert counters.read(db_session=db_session, record_type="incident") == (14, 5)
    # Other types have their own sequence.
    assert counters.allocate_numbers(db_session=db_session, record_type="problem") == 1


def test_delete_and_bump(db_session):
    for _ in range(3):
        counters.allocate_numbers(db_session=db_session, record_type="incident")
    counters.record_deleted(db_session=db_session, record_type="incident")
    assert counters.read(db_session=db_session, record_type="incident") == (2, 4)
    counters.bump_generation(db_session=db_session, record_type="incident")
    assert counters.read(db_session=db_session, record_type="incident") == (2, 5)
    # A deletion never gives a number back.
    assert counters.allocate_numbers(db_session=db_session, record_type="incident") == 4


def test_recount_repairs_the_row_count(db_session):
    from datetime import UTC, datetime

    for n in (1, 2):
        db_session.add(
            Incident(number=f"INC{n:07d}", short_description="x", state="new", opened_at=datetime.now(UTC))
        )
    db_session.flush()
    counters.allocate_numbers(db_session=db_session, record_type="incident", count=5)
    assert counters.read(db_session=db_session, record_type="incident")[0] == 5
    assert counters.recount(db_session=db_session, record_type="incident", model=Incident) == 2
    assert counters.read(db_session=db_session, record_type="incident") == (2, 2)


@pytest.mark.parametrize("count", [1, 3])
def test_counts_survive_commit(db, count):
    """The counter row is created on first use and committed with the writer's transaction."""
    from itsm_ai import database

    with database.get_session() as session:
        counters.allocate_numbers(db_session=session, record_type="asset", count=count)
    with database.get_session() as session:
        assert counters.read(db_session=session, record_type="asset") == (count, 1)
