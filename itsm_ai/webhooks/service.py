"""Webhook subscriptions, the transactional outbox listener, and the delivery log.

Every domain event becomes an outbox row plus one delivery per matching enabled subscription, written by a
listener inside the writer's transaction: the event exists exactly when the change commits.

Listeners run depth-first, so a change made by a listener (a rule assigning a group on "created") finishes
its own listener chain before the change that caused it. Rows are therefore buffered per session and written
when the outermost event completes, in the order the events started (the cause before its consequences), so
deliveries to one subscription go out in causal order. Code that rolls back a savepoint inside a listener
chain restores the buffer with `pending_mark`/`pending_restore`.
"""

from __future__ import annotations

import fnmatch
import re
import secrets
import uuid
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.audit import service as audit_service
from itsm_ai.base import spec_registry
from itsm_ai.base.roles import ADMINS
from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.errors import InvalidInputError, NotFoundError
from itsm_ai.records.events import RecordEvent
from itsm_ai.records.service import serialize
from itsm_ai.records.spec import Access, RecordSpec
from itsm_ai.webhooks.models import (
    AttemptRead,
    DeliveryAttempt,
    DeliveryRead,
    DeliveryStatus,
    OutboxEvent,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookRead,
    WebhookSubscription,
    WebhookUpdate,
)
from itsm_ai.webhooks.targets import RefusedTarget, check_url

AUDIT_TYPE = "webhook"
PENDING_KEY = "webhooks.pending"
_PATTERN = re.compile(r"^(\*|[a-z_]+|[a-z_]+\.(\*|[a-z_]+)|\*\.[a-z_]+)$")
_JSON = TypeAdapter(Any)


# -- subscriptions -------------------------------------------------------------------------------------------


def check_event_types(patterns: list[str]) -> list[str]:
    """Validated event-type patterns (`*`, `incident.*`, `*.created`, `incident.created`), or 422."""
    if not patterns:
        raise InvalidInputError("event_types: must list at least one event type or '*'", field="event_types")
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not _PATTERN.match(pattern):
            path = f"event_types[{index}]"
            raise InvalidInputError(
                f"{path}: {pattern!r} is not an event type like 'incident.created', 'incident.*' or '*'",
                field=path,
            )
    return list(dict.fromkeys(patterns))


def matches(patterns: list[str], event_type: str) -> bool:
    """True when one of the patterns matches the event type."""
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


def check_target(url: str, *, field: str) -> None:
    """422 naming the field for a URL on a refused network (unless webhooks_allow_private)."""
    if get_settings().webhooks_allow_private:
        return
    try:
        check_url(url)
    except RefusedTarget as exc:
        raise InvalidInputError(f"{field}: {exc}", field=field) from exc


def _validate(
    values: dict[str, Any], *, db_session: Session, obj: WebhookSubscription | None
) -> dict[str, Any]:
    """URLs as text, event-type patterns checked; a new subscription without a secret gets one."""
    out = dict(values)
    if out.get("url") is not None:
        out["url"] = str(out["url"])
        check_target(out["url"], field="url")
    if "event_types" in out and out["event_types"] is not None:
        out["event_types"] = check_event_types(out["event_types"])
    if obj is None and not out.get("secret"):
        out["secret"] = secrets.token_urlsafe(32)
    return out


WEBHOOK = RecordSpec(
    record_type=AUDIT_TYPE,
    noun="webhook",
    path="webhooks",
    model=WebhookSubscription,
    create_schema=WebhookCreate,
    update_schema=WebhookUpdate,
    read_schema=WebhookRead,
    created_schema=WebhookCreated,
    access=Access(create=ADMINS, read=ADMINS, update=ADMINS, delete=ADMINS),
    filters={"name": str, "enabled": bool},
    range_field=None,
    sort_fields=("id", "name", "created_at", "updated_at"),
    default_sort="id",
    search_fields=("name", "url", "description"),
    validate=_validate,
    unique=("name",),
    secret_fields=("secret",),
    configuration=True,
)


# -- the outbox ----------------------------------------------------------------------------------------------


def event_type(event: RecordEvent) -> str:
    """`<record_type>.<what>`: created, updated, state_changed, approval_changed, deleted, sla_breach..."""
    what = event.kind
    if event.kind == "updated":
        changed = event.changed_fields
        what = (
            "state_changed"
            if "state" in changed
            else "approval_changed"
            if "approval" in changed
            else "updated"
        )
    return f"{event.record_type}.{what}"


def jsonable(value: Any) -> Any:
    """A value as plain JSON (datetimes as ISO text, enums as values)."""
    return _JSON.dump_python(value, mode="json")


def refresh_refs(db_session: Session, spec, obj: Any, fields: set[str] | None = None) -> None:
    """Reload reference relationships whose foreign key changed (a flushed key change leaves them stale)."""
    names = [ref.rel for name, ref in spec.refs.items() if fields is None or name in fields]
    if names and obj in db_session and not db_session.is_modified(obj):
        db_session.expire(obj, names)


def record_json(db_session: Session, record_type: str, obj: Any) -> dict[str, Any]:
    """The record as the API shows it, as plain JSON (references re-read: listeners may have moved them)."""
    spec = spec_registry.find(record_type)
    if spec is None:
        return {"id": getattr(obj, "id", None)}
    refresh_refs(db_session, spec, obj)
    data = serialize(spec, obj)
    try:
        return spec.read_schema.model_validate(data).model_dump(mode="json")
    except ValidationError:
        return jsonable(data)


def _payload(db_session: Session, event: RecordEvent) -> dict[str, Any]:
    obj = event.record
    return {
        "record_type": event.record_type,
        "record_id": getattr(obj, "id", None),
        "number": getattr(obj, "number", None),
        "kind": event.kind,
        "source": event.source,
        "actor": getattr(event.actor, "username", None),
        "changes": [{"field": f, "old": jsonable(o), "new": jsonable(n)} for f, o, n in event.changes],
        "record": record_json(db_session, event.record_type, obj),
    }


def _rows_for(db_session: Session, event: RecordEvent) -> list[Any]:
    type_ = event_type(event)
    outbox = OutboxEvent(
        event_id=str(uuid.uuid4()),
        type=type_,
        record_type=event.record_type,
        record_id=getattr(event.record, "id", None),
        payload=_payload(db_session, event),
        created_at=utcnow(),
    )
    rows: list[Any] = [outbox]
    subs = db_session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.enabled.is_(True))
        .order_by(WebhookSubscription.id)
    )
    for sub in subs:
        if matches(sub.event_types, type_):
            rows.append(
                WebhookDelivery(event=outbox, subscription_id=sub.id, next_attempt_at=outbox.created_at)
            )
    return rows


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Listener (last in the engine): record the event and its deliveries in the writer's transaction."""
    pending: list[tuple[int, list[Any]]] = db_session.info.setdefault(PENDING_KEY, [])
    rows = _rows_for(db_session, event)
    # Buffered entries deeper than this event are its consequences (each already in start order); they
    # completed before it, so they go after it.
    first_child = len(pending)
    while first_child and pending[first_child - 1][0] > event.depth:
        first_child -= 1
    for _depth, child_rows in pending[first_child:]:
        rows.extend(child_rows)
    del pending[first_child:]
    if event.depth == 0:
        db_session.add_all(rows)
    else:
        pending.append((event.depth, rows))


def pending_mark(db_session: Session) -> int:
    """A mark of the outbox buffer to restore after rolling back a savepoint inside a listener chain."""
    return len(db_session.info.get(PENDING_KEY, []))


def pending_restore(db_session: Session, mark: int) -> None:
    """Forget the buffered events of writes that were rolled back since `mark`."""
    del db_session.info.setdefault(PENDING_KEY, [])[mark:]


def enqueue_direct(
    *,
    db_session: Session,
    url: str,
    method: str,
    headers: dict[str, str],
    payload: dict[str, Any],
    event_type_: str,
    record_type: str | None,
    record_id: int | None,
    rule_id: int | None,
) -> WebhookDelivery:
    """Queue a one-off call (a rule's webhook action) through the outbox, sent by the delivery worker."""
    now = utcnow()
    outbox = OutboxEvent(
        event_id=str(uuid.uuid4()),
        type=event_type_[:80],
        record_type=record_type,
        record_id=record_id,
        payload=jsonable(payload),
        created_at=now,
    )
    delivery = WebhookDelivery(
        event=outbox, rule_id=rule_id, url=url, method=method, headers=dict(headers), next_attempt_at=now
    )
    db_session.add_all([outbox, delivery])
    return delivery


# -- deliveries ----------------------------------------------------------------------------------------------


def list_deliveries(
    *,
    db_session: Session,
    subscription_id: int | None = None,
    rule_id: int | None = None,
    status: DeliveryStatus | None = None,
    limit: int = 100,
) -> list[WebhookDelivery]:
    """Deliveries of a subscription or a rule, newest first."""
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if subscription_id is not None:
        stmt = stmt.where(WebhookDelivery.subscription_id == subscription_id)
    if rule_id is not None:
        stmt = stmt.where(WebhookDelivery.rule_id == rule_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return list(db_session.scalars(stmt))


def delivery_reads(*, db_session: Session, deliveries: list[WebhookDelivery]) -> list[DeliveryRead]:
    """Deliveries with their attempt logs (one query for all the logs), oldest attempt first."""
    logs: dict[int, list[DeliveryAttempt]] = {d.id: [] for d in deliveries}
    if logs:
        stmt = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(list(logs)))
        for attempt in db_session.scalars(stmt.order_by(DeliveryAttempt.id)):
            logs[attempt.delivery_id].append(attempt)
    return [_delivery_read(d, logs[d.id]) for d in deliveries]


def _delivery_read(delivery: WebhookDelivery, attempts: list[DeliveryAttempt]) -> DeliveryRead:
    pending = delivery.status == DeliveryStatus.pending
    return DeliveryRead(
        id=delivery.id,
        event_id=delivery.event.event_id,
        event_type=delivery.event.type,
        status=DeliveryStatus(delivery.status),
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if pending else None,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        log=[AttemptRead.model_validate(a) for a in attempts],
    )


def redeliver(*, db_session: Session, sub: WebhookSubscription, delivery_id: int, actor) -> WebhookDelivery:
    """Queue the event of a delivery again as a new delivery (same event id, so receivers can dedupe)."""
    old = db_session.get(WebhookDelivery, delivery_id)
    if old is None or old.subscription_id != sub.id:
        raise NotFoundError(f"delivery {delivery_id} of webhook {sub.id} not found")
    now = utcnow()
    new = WebhookDelivery(event_pk=old.event_pk, subscription_id=sub.id, next_attempt_at=now, created_at=now)
    db_session.add(new)
    db_session.flush()
    audit_service.record_event(
        db_session=db_session,
        record_type=AUDIT_TYPE,
        record_id=sub.id,
        actor=actor,
        action="redeliver",
        old=delivery_id,
        new=new.id,
    )
    return new
