"""List machinery at the service level: the totals cache, LIKE escaping, cursors and the query model."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from itsm_ai.errors import InvalidInputError
from itsm_ai.records import counters, listing
from itsm_ai.records import service as record_service
from itsm_ai.ticket.models import Incident, IncidentCreate
from itsm_ai.ticket.service import INCIDENT


def test_total_cache_is_valid_only_for_its_generation_and_ttl():
    cache = listing._TotalCache(size=2)
    cache.put(("incident", "a"), generation=5, total=10)
    assert cache.get(("incident", "a"), generation=5, ttl=60) == 10
    assert cache.get(("incident", "a"), generation=6, ttl=60) is None  # a write happened since
    assert cache.get(("incident", "a"), generation=5, ttl=0) is None  # too old
    assert cache.get(("incident", "b"), generation=5, ttl=60) is None


def test_total_cache_evicts_least_recently_used():
    cache = listing._TotalCache(size=2)
    cache.put(("t", 1), 1, 1)
    cache.put(("t", 2), 1, 2)
    assert cache.get(("t", 1), 1, 60) == 1  # 1 is now the most recent
    cache.put(("t", 3), 1, 3)
    assert cache.get(("t", 2), 1, 60) is None
    assert (cache.get(("t", 1), 1, 60), cache.get(("t", 3), 1, 60)) == (1, 3)
    cache.clear()
    assert cache.get(("t", 1), 1, 60) is None


def test_like_pattern_escapes_wildcards():
    assert listing.like_pattern("100%") == "%100\\%%"
    assert listing.like_pattern("a_b") == "%a\\_b%"
    assert listing.like_pattern("c:\\temp") == "%c:\\\\temp%"


def test_cursor_round_trip_keeps_aware_datetimes():
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    cursor = listing._encode_cursor("-opened_at", when, 42)
    assert "=" not in cursor
    assert listing._decode_cursor(cursor, "-opened_at", Incident.opened_at) == (when, 42)
    number = listing._encode_cursor("number", "INC0000009", 9)
    assert listing._decode_cursor(number, "number", Incident.number) == (
        "INC0000009",
        9,
    )


@pytest.mark.parametrize("cursor", ["", "%%%", "bm90IGpzb24", "W10", "eyJzIjogIm51bWJlciJ9"])
def test_cursor_garbage_is_invalid_input(cursor):
    with pytest.raises(InvalidInputError) as info:
        listing._decode_cursor(cursor, "number", Incident.number)
    assert info.value.field == "cursor"


@pytest.mark.parametrize(
    ("sort", "column", "value", "last_id"),
    [
        ("-opened_at", "opened_at", "garbage", 1),
        ("-opened_at", "opened_at", {"dt": "2024-01-01T00:00:00"}, 1),
        ("-opened_at", "opened_at", {"dt": "not a time"}, 1),
        ("priority", "priority", "1", 1),
        ("priority", "priority", True, 1),
        ("priority", "priority", 2**70, 1),
        ("number", "number", [1, 2], 1),
        ("number", "number", "INC0000001", "1"),
        ("number", "number", "INC0000001", 2**64),
    ],
)
def test_cursor_with_a_value_of_the_wrong_type_is_invalid_input(sort, column, value, last_id):
    import base64
    import json

    raw = json.dumps({"s": sort, "v": value, "id": last_id}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode()
    with pytest.raises(InvalidInputError) as info:
        listing._decode_cursor(cursor, sort, getattr(Incident, column))
    assert info.value.field == "cursor"


def test_cursor_for_another_sort_is_invalid_input():
    cursor = listing._encode_cursor("number", "INC0000001", 1)
    with pytest.raises(InvalidInputError, match="different sort"):
        listing._decode_cursor(cursor, "-number", Incident.number)


def _params(**kw):
    return listing.query_model(INCIDENT)(**kw)


def test_query_model_defaults_and_limits():
    p = _params()
    assert (p.limit, p.offset, p.sort, p.cursor, p.q) == (50, 0, "-opened_at", None, None)
    with pytest.raises(ValidationError):
        _params(limit=501)
    assert _params(limit=500).limit == 500


def test_query_model_forbids_unknown_parameters():
    with pytest.raises(ValidationError):
        _params(stat="closed")


@pytest.fixture
def incidents(db_session):
    from itsm_ai.auth import service as user_service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role

    agent = user_service.create(db_session=db_session, user_in=UserCreate(username="agent", role=Role.agent))
    made = [
        record_service.create(
            db_session=db_session,
            spec=INCIDENT,
            data=IncidentCreate(short_description=f"Disk {i}", impact=1 + i % 3, urgency=3).model_dump(),
            actor=agent,
        )
        for i in range(5)
    ]
    return agent, made


def test_unfiltered_total_comes_from_the_counter(db_session, incidents):
    page = listing.list_records(db_session=db_session, spec=INCIDENT, params=_params(limit=2))
    assert (page.total, len(page.items)) == (5, 2)
    # The counter, not a COUNT(*), answers: skew it and the total follows.
    counters.allocate_numbers(db_session=db_session, record_type="incident", count=1)
    assert listing.list_records(db_session=db_session, spec=INCIDENT, params=_params()).total == 6


def test_filtered_total_is_cached_until_the_generation_moves(db_session, incidents):
    listing.total_cache.clear()
    params = _params(priority=[3])
    assert listing.list_records(db_session=db_session, spec=INCIDENT, params=params).total == 2
    agent, made = incidents
    # A write that bypasses the store's counters is not seen while the generation is unchanged ...
    made[1].priority = 3
    db_session.flush()
    assert listing.list_records(db_session=db_session, spec=INCIDENT, params=params).total == 2
    # ... and is recounted as soon as the generation moves.
    counters.bump_generation(db_session=db_session, record_type="incident")
    assert listing.list_records(db_session=db_session, spec=INCIDENT, params=params).total == 3


def test_store_update_moves_the_generation(db_session, incidents):
    agent, made = incidents
    before = counters.read(db_session=db_session, record_type="incident")[1]
    record_service.update(
        db_session=db_session, spec=INCIDENT, obj=made[1], data={"version": 1, "urgency": 1}, actor=agent
    )
    assert counters.read(db_session=db_session, record_type="incident")[1] == before + 1
    # A no-op update changes nothing and leaves the generation alone.
    record_service.update(
        db_session=db_session,
        spec=INCIDENT,
        obj=made[1],
        data={"version": made[1].version, "urgency": 1},
        actor=agent,
    )
    assert counters.read(db_session=db_session, record_type="incident")[1] == before + 1


def test_cached_total_expires_after_ttl(db_session, incidents, monkeypatch):
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "total_cache_seconds", 0.05)
    listing.total_cache.clear()
    params = _params(urgency=[3])
    assert listing.list_records(db_session=db_session, spec=INCIDENT, params=params).total == 5
    incidents[1][0].urgency = 1
    db_session.flush()
    time.sleep(0.06)
    assert listing.list_records(db_session=db_session, spec=INCIDENT, params=params).total == 4
