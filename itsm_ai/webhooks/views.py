"""Webhook endpoints (admins only): subscriptions, their delivery log, and manual redelivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, status

from itsm_ai.auth.dependencies import AdminUser, CurrentUser
from itsm_ai.database import DbSession
from itsm_ai.inputs import RowId
from itsm_ai.records import service as record_service
from itsm_ai.records.views import make_router
from itsm_ai.webhooks import service
from itsm_ai.webhooks.models import DeliveryRead, DeliveryStatus
from itsm_ai.webhooks.service import WEBHOOK

router = make_router(WEBHOOK, CurrentUser, list_as_array=True)


@router.get("/{ref}/deliveries", response_model=list[DeliveryRead], summary="Delivery log, newest first")
def list_deliveries(
    ref: str,
    db_session: DbSession,
    admin: AdminUser,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    sub = record_service.get(db_session=db_session, spec=WEBHOOK, ref=ref)
    rows = service.list_deliveries(db_session=db_session, subscription_id=sub.id, status=status_, limit=limit)
    return service.delivery_reads(db_session=db_session, deliveries=rows)


@router.post(
    "/{ref}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery's event again (a new delivery, same event id)",
)
def redeliver(ref: str, delivery_id: RowId, db_session: DbSession, admin: AdminUser):
    sub = record_service.get(db_session=db_session, spec=WEBHOOK, ref=ref)
    new = service.redeliver(db_session=db_session, sub=sub, delivery_id=delivery_id, actor=admin)
    return service.delivery_reads(db_session=db_session, deliveries=[new])[0]
