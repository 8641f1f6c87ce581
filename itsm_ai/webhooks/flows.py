"""The delivery worker: claim due deliveries safely, send them signed with httpx, retry with backoff.

Guarantees (documented for receivers):
- At least once: a delivery stays `pending` until a 2xx answer; a worker that dies mid-send loses its
  lease (`lease_seconds`) and another worker sends it again. Each event has one id (`X-ITSM-Event-Id`), so a
  receiver that dedupes by id sees every event exactly once.
- Ordered per subscription: only the oldest pending delivery of a subscription can be claimed, so a
  subscription receives its events in outbox order; a failing one holds the later ones back until it succeeds
  or is marked `failed` after `max_attempts`. A rule's one-off webhook calls are not ordered.
- Claims: `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, a conditional `UPDATE` on SQLite; the result is
  written back only by the claimer holding the claim token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from itsm_ai.config import get_settings
from itsm_ai.database import get_session, is_postgres, utcnow
from itsm_ai.webhooks import targets
from itsm_ai.webhooks.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)
USER_AGENT = "itsm-ai-webhooks/1"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: base * 2**(attempt-1), capped, plus up to `jitter` of it at random."""

    max_attempts: int = 8
    base_seconds: float = 10.0
    cap_seconds: float = 3600.0
    jitter: float = 0.2
    lease_seconds: float = 60.0
    timeout_seconds: float = 10.0
    batch_size: int = 50
    max_rounds: int = 100

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after the `attempt`-th failed try."""
        base = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return base * (1 + self.jitter * rng.random())


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` keyed by the subscription secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Receiver side: True when the signature matches (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass
class Claimed:
    """A claimed delivery with everything needed to send it without the database."""

    delivery_id: int
    token: str
    attempt: int
    url: str
    method: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """What one send produced."""

    claimed: Claimed
    status_code: int | None
    error: str | None
    duration_ms: float
    final: bool = False  # no retry: the target is refused

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


def _due_ids(db_session: Session, now: datetime, limit: int) -> list[int]:
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        earlier.subscription_id == WebhookDelivery.subscription_id,
        earlier.status == DeliveryStatus.pending,
        earlier.id < WebhookDelivery.id,
    )
    stmt = (
        select(WebhookDelivery.id)
        .outerjoin(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
            or_(WebhookDelivery.subscription_id.is_(None), WebhookSubscription.enabled.is_(True)),
            ~and_(WebhookDelivery.subscription_id.is_not(None), blocked),
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    if is_postgres(db_session):
        stmt = stmt.with_for_update(skip_locked=True, of=WebhookDelivery)
    return list(db_session.scalars(stmt))


def _body(delivery: WebhookDelivery) -> bytes:
    event = delivery.event
    if delivery.subscription_id is None:
        document: Any = event.payload
    else:
        document = {
            "id": event.event_id,
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "data": event.payload,
        }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


def _prepare(db_session: Session, delivery: WebhookDelivery, token: str, now: datetime) -> Claimed:
    event = delivery.event
    body = _body(delivery)
    stamp = str(int(now.timestamp()))
    headers = dict(delivery.headers or {})
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-ITSM-Event-Id": event.event_id,
            "X-ITSM-Event": event.type,
            "X-ITSM-Timestamp": stamp,
            "X-ITSM-Delivery": str(delivery.id),
        }
    )
    url = delivery.url
    if delivery.subscription_id is not None:
        sub = db_session.get(WebhookSubscription, delivery.subscription_id)
        url = sub.url
        headers["X-ITSM-Signature"] = sign(sub.secret, stamp, body)
    return Claimed(delivery.id, token, delivery.attempts, url, delivery.method or "POST", body, headers)


def claim(*, db_session: Session, now: datetime, policy: RetryPolicy) -> list[Claimed]:
    """Claim up to `batch_size` due deliveries (the oldest pending one per subscription) under a lease."""
    token = str(uuid.uuid4())
    lease = now + timedelta(seconds=policy.lease_seconds)
    values = {
        "lease_until": lease,
        "claim_token": token,
        "attempts": WebhookDelivery.attempts + 1,
    }
    claimed_ids: list[int] = []
    for delivery_id in _due_ids(db_session, now, policy.batch_size):
        # The condition repeats the lease test, so on SQLite a delivery claimed meanwhile is not taken twice.
        result = db_session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == DeliveryStatus.pending,
                or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            claimed_ids.append(delivery_id)
    db_session.expire_all()
    out = []
    for delivery_id in claimed_ids:
        out.append(_prepare(db_session, db_session.get(WebhookDelivery, delivery_id), token, now))
    return out


def _pinned(claimed: Claimed, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request to the checked address itself (Host header and TLS name kept), so a second DNS answer
    between the check and the connection cannot redirect it."""
    url = httpx.URL(claimed.url)
    headers = {**claimed.headers, "Host": url.netloc.decode("ascii")}
    return url.copy_with(host=address), headers, {"sni_hostname": url.host}


def send(
    claimed: Claimed,
    *,
    client: httpx.Client,
    allow_private: bool | None = None,
    resolver: targets.Resolver | None = None,
) -> Outcome:
    """POST (or the rule's method) the body; any exception becomes an error outcome.

    Unless private targets are allowed, the host is resolved first and a refused address (loopback, private,
    link-local, ...) fails the delivery with the reason, without connecting.
    """
    if allow_private is None:
        allow_private = get_settings().webhooks_allow_private
    started = time.perf_counter()
    try:
        if allow_private:
            response = client.request(
                claimed.method, claimed.url, content=claimed.body, headers=claimed.headers
            )
        else:
            addresses = targets.resolve_checked(claimed.url, resolver=resolver or targets.system_resolver)
            url, headers, extensions = _pinned(claimed, addresses[0])
            response = client.request(
                claimed.method, url, content=claimed.body, headers=headers, extensions=extensions
            )
        status, error = response.status_code, None
        if not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:200]}"
    except targets.RefusedTarget as exc:
        return Outcome(claimed, None, str(exc)[:1000], (time.perf_counter() - started) * 1000, final=True)
    except (httpx.HTTPError, OSError) as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"[:1000]
    return Outcome(claimed, status, error, (time.perf_counter() - started) * 1000)


def finish(
    *, db_session: Session, outcome: Outcome, now: datetime, policy: RetryPolicy, rng: random.Random
) -> str:
    """Record the attempt and move the delivery on: delivered, retry later, or failed."""
    c = outcome.claimed
    values: dict[str, Any] = {
        "lease_until": None,
        "claim_token": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    if outcome.ok:
        result = DeliveryStatus.delivered
        values.update(status=result, delivered_at=now)
    elif outcome.final or c.attempt >= policy.max_attempts:
        result = DeliveryStatus.failed
        values.update(status=result)
    else:
        result = "retrying"
        values.update(next_attempt_at=now + timedelta(seconds=policy.delay(c.attempt, rng)))
    db_session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == c.delivery_id, WebhookDelivery.claim_token == c.token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db_session.add(
        DeliveryAttempt(
            delivery_id=c.delivery_id,
            attempt=c.attempt,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=round(outcome.duration_ms, 3),
            at=now,
        )
    )
    return str(result)


def deliver_pending(
    *,
    now: datetime | None = None,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
    client: httpx.Client | None = None,
) -> dict[str, int]:
    """Worker job: send every due delivery (rounds of claim, send in parallel, record); returns counts."""
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    own_client = client is None
    client = client or httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in range(policy.max_rounds):
                moment = now or utcnow()
                with get_session() as db_session:
                    batch = claim(db_session=db_session, now=moment, policy=policy)
                if not batch:
                    break
                # One delivery per subscription per batch, so sending in parallel keeps each one's order.
                outcomes = list(pool.map(lambda c: send(c, client=client), batch))
                with get_session() as db_session:
                    for outcome in outcomes:
                        done = finish(
                            db_session=db_session,
                            outcome=outcome,
                            now=now or utcnow(),
                            policy=policy,
                            rng=rng,
                        )
                        counts[done] += 1
    finally:
        if own_client:
            client.close()
    return counts
