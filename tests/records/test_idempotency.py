"""Idempotency keys at the service level: hashing, lookup per user and endpoint, refusal of reuse."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from itsm_ai.auth import service as user_service
from itsm_ai.auth.models import UserCreate
from itsm_ai.errors import InvalidInputError
from itsm_ai.records import idempotency


@pytest.fixture
def two_users(db_session):
    a = user_service.create(db_session=db_session, user_in=UserCreate(username="a"))
    b = user_service.create(db_session=db_session, user_in=UserCreate(username="b"))
    return a, b


def test_request_hash_ignores_key_order_but_not_values():
    h = idempotency.request_hash({"a": 1, "b": [1, 2]})
    assert h == idempotency.request_hash({"b": [1, 2], "a": 1})
    assert h != idempotency.request_hash({"a": 1, "b": [2, 1]})
    assert h != idempotency.request_hash({"a": "1", "b": [1, 2]})
    assert len(h) == 64


@pytest.mark.parametrize("key", ["", "x" * 256])
def test_bad_keys_are_refused(db_session, two_users, key):
    with pytest.raises(InvalidInputError) as info:
        idempotency.lookup(
            db_session=db_session, user_id=two_users[0].id, endpoint="POST /x", key=key, body_hash="h"
        )
    assert info.value.field == "Idempotency-Key"


def test_lookup_remember_and_reuse(db_session, two_users):
    a, b = two_users
    args = {"db_session": db_session, "endpoint": "POST /incidents", "key": "k" * 255}
    assert idempotency.lookup(user_id=a.id, body_hash="h1", **args) is None
    idempotency.remember(user_id=a.id, body_hash="h1", record_type="incident", record_id=7, **args)
    row = idempotency.lookup(user_id=a.id, body_hash="h1", **args)
    assert (row.record_type, row.record_id) == ("incident", 7)
    with pytest.raises(InvalidInputError, match="different request body") as info:
        idempotency.lookup(user_id=a.id, body_hash="h2", **args)
    assert info.value.field == "Idempotency-Key"
    # Another user, or another endpoint, has its own key space.
    assert idempotency.lookup(user_id=b.id, body_hash="h2", **args) is None
    other = dict(args, endpoint="POST /problems")
    assert idempotency.lookup(user_id=a.id, body_hash="h2", **other) is None


def test_the_same_key_cannot_be_stored_twice(db_session, two_users):
    a, _ = two_users
    args = {"db_session": db_session, "user_id": a.id, "endpoint": "POST /incidents", "key": "k"}
    idempotency.remember(body_hash="h1", record_type="incident", record_id=1, **args)
    with pytest.raises(IntegrityError):
        idempotency.remember(body_hash="h1", record_type="incident", record_id=2, **args)
