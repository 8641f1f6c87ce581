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
from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.records.events import RecordEvent
from itsm_ai.records.service import serialize
from itsm_ai.webhooks.models import (
    DeliveryStatus,
    OutboxEvent,
    WebhookCreate,
    WebhookDelivery,
    WebhookSubscription,
    WebhookUpdate,
)

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


def get(*, db_session: Session, subscription_id: int) -> WebhookSubscription:
    """The subscription with this id, or NotFoundError."""
    sub = db_session.get(WebhookSubscription, subscription_id)
    if sub is None:
        raise NotFoundError(f"webhook {subscription_id} not found")
    return sub


def list_subscriptions(*, db_session: Session) -> list[WebhookSubscription]:
    """Every subscription, oldest first."""
    return list(db_session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def _name_taken(db_session: Session, name: str, sub_id: int | None = None) -> None:
    other = db_session.scalar(select(WebhookSubscription.id).where(WebhookSubscription.name == name))
    if other is not None and other != sub_id:
        raise ConflictError(f"name: a webhook named {name!r} already exists", field="name")


def create(*, db_session: Session, webhook_in: WebhookCreate, actor) -> WebhookSubscription:
    """Store a subscription; a secret is generated when none is given (returned once by the API)."""
    _name_taken(db_session, webhook_in.name)
    sub = WebhookSubscription(
        name=webhook_in.name,
        url=str(webhook_in.url),
        secret=webhook_in.secret or secrets.token_urlsafe(32),
        event_types=check_event_types(webhook_in.event_types),
        enabled=webhook_in.enabled,
        description=webhook_in.description,
    )
    db_session.add(sub)
    db_session.flush()
    shown = {"name": sub.name, "url": sub.url, "event_types": sub.event_types, "enabled": sub.enabled}
    audit_service.record_create(
        db_session=db_session, record_type=AUDIT_TYPE, record_id=sub.id, actor=actor, values=shown
    )
    return sub


def update(
    *, db_session: Session, sub: WebhookSubscription, webhook_in: WebhookUpdate, actor
) -> WebhookSubscription:
    """Apply a partial update carrying the version that was read (the secret is audited as changed only)."""
    if webhook_in.version != sub.version:
        raise ConflictError(
            f"webhook {sub.id} was changed by someone else (current version {sub.version}); reload and retry",
            field="version",
            details={"current_version": sub.version},
        )
    values = webhook_in.model_dump(exclude_unset=True, exclude={"version"})
    for key in ("name", "url", "secret", "event_types", "enabled"):
        if key in values and values[key] is None:
            raise InvalidInputError(f"{key}: cannot be null", field=key)
    if "url" in values:
        values["url"] = str(values["url"])
    if "event_types" in values:
        values["event_types"] = check_event_types(values["event_types"])
    if "name" in values:
        _name_taken(db_session, values["name"], sub.id)
    changes = []
    for field, value in values.items():
        old = getattr(sub, field)
        if old != value:
            setattr(sub, field, value)
            hidden = field == "secret"
            changes.append((field, "***" if hidden else old, "***" if hidden else value))
    if changes:
        db_session.flush()
        audit_service.record_changes(
            db_session=db_session, record_type=AUDIT_TYPE, record_id=sub.id, actor=actor, changes=changes
        )
    return sub


def delete(*, db_session: Session, sub: WebhookSubscription, actor) -> None:
    """Delete a subscription with its deliveries and their log."""
    audit_service.record_event(
        db_session=db_session,
        record_type=AUDIT_TYPE,
        record_id=sub.id,
        actor=actor,
        action="delete",
        old=sub.name,
    )
    db_session.delete(sub)
    db_session.flush()


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


def _specs() -> dict[str, Any]:
    from itsm_ai.asset.service import ASSET
    from itsm_ai.catalog.service import CATALOG_ITEM
    from itsm_ai.knowledge.article.service import ARTICLE
    from itsm_ai.ticket.service import TICKET_SPECS

    return {**TICKET_SPECS, **{s.record_type: s for s in (ASSET, CATALOG_ITEM, ARTICLE)}}


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
    spec = _specs().get(record_type)
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
