"""Webhook endpoints (admins only): subscriptions, their delivery log, and manual redelivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select

from itsm_ai.auth.dependencies import AdminUser
from itsm_ai.database import DbSession
from itsm_ai.webhooks import service
from itsm_ai.webhooks.models import (
    AttemptRead,
    DeliveryAttempt,
    DeliveryRead,
    DeliveryStatus,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookRead,
    WebhookUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def deliveries_read(db_session, deliveries: list[WebhookDelivery]) -> list[DeliveryRead]:
    """Deliveries with their attempt logs (one query for all the logs), oldest attempt first."""
    logs: dict[int, list[DeliveryAttempt]] = {d.id: [] for d in deliveries}
    if logs:
        stmt = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(list(logs)))
        for attempt in db_session.scalars(stmt.order_by(DeliveryAttempt.id)):
            logs[attempt.delivery_id].append(attempt)
    return [_read(d, logs[d.id]) for d in deliveries]


def _read(delivery: WebhookDelivery, attempts: list[DeliveryAttempt]) -> DeliveryRead:
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


@router.get("", response_model=list[WebhookRead], summary="Webhook subscriptions")
def list_webhooks(db_session: DbSession, admin: AdminUser):
    return service.list_subscriptions(db_session=db_session)


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED, summary="Subscribe")
def create_webhook(body: WebhookCreate, db_session: DbSession, admin: AdminUser, response: Response):
    sub = service.create(db_session=db_session, webhook_in=body, actor=admin)
    response.headers["Location"] = f"/api/v1/webhooks/{sub.id}"
    return WebhookCreated.model_validate(
        {**WebhookRead.model_validate(sub).model_dump(), "secret": sub.secret}
    )


@router.get("/{webhook_id}", response_model=WebhookRead, summary="Read a subscription")
def get_webhook(webhook_id: int, db_session: DbSession, admin: AdminUser):
    return service.get(db_session=db_session, subscription_id=webhook_id)


@router.patch("/{webhook_id}", response_model=WebhookRead, summary="Change a subscription")
def update_webhook(webhook_id: int, body: WebhookUpdate, db_session: DbSession, admin: AdminUser):
    sub = service.get(db_session=db_session, subscription_id=webhook_id)
    return service.update(db_session=db_session, sub=sub, webhook_in=body, actor=admin)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a subscription")
def delete_webhook(webhook_id: int, db_session: DbSession, admin: AdminUser):
    sub = service.get(db_session=db_session, subscription_id=webhook_id)
    service.delete(db_session=db_session, sub=sub, actor=admin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries", response_model=list[DeliveryRead], summary="Delivery log, newest first"
)
def list_deliveries(
    webhook_id: int,
    db_session: DbSession,
    admin: AdminUser,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    service.get(db_session=db_session, subscription_id=webhook_id)
    rows = service.list_deliveries(
        db_session=db_session, subscription_id=webhook_id, status=status_, limit=limit
    )
    return deliveries_read(db_session, rows)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery's event again (a new delivery, same event id)",
)
def redeliver(webhook_id: int, delivery_id: int, db_session: DbSession, admin: AdminUser):
    sub = service.get(db_session=db_session, subscription_id=webhook_id)
    new = service.redeliver(db_session=db_session, sub=sub, delivery_id=delivery_id, actor=admin)
    return deliveries_read(db_session, [new])[0]
