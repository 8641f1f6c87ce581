"""Idempotency-Key handling for creates: the same key and body return the first answer, never a duplicate."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.errors import InvalidInputError
from itsm_ai.records.models import IdempotencyKey

MAX_KEY_LENGTH = 255


def request_hash(body: dict[str, Any]) -> str:
    """A stable hash of a request body."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def lookup(
    *, db_session: Session, user_id: int, endpoint: str, key: str, body_hash: str
) -> IdempotencyKey | None:
    """The earlier answer for this key, or None; a reused key with another body is refused (422)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} characters", field="Idempotency-Key"
        )
    row = db_session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.endpoint == endpoint, IdempotencyKey.key == key
        )
    )
    if row is not None and row.request_hash != body_hash:
        raise InvalidInputError(
            "Idempotency-Key: already used with a different request body", field="Idempotency-Key"
        )
    return row


def remember(
    *,
    db_session: Session,
    user_id: int,
    endpoint: str,
    key: str,
    body_hash: str,
    record_type: str,
    record_id: int,
) -> None:
    """Store the key with the record it created, in the same transaction as the create."""
    db_session.add(
        IdempotencyKey(
            key=key,
            user_id=user_id,
            endpoint=endpoint,
            request_hash=body_hash,
            record_type=record_type,
            record_id=record_id,
        )
    )
    db_session.flush()
