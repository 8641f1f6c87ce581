"""Notification endpoints: your in-app list and preferences; admins edit the templates per event."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from itsm_ai.auth.dependencies import AdminUser, CurrentUser
from itsm_ai.database import DbSession
from itsm_ai.inputs import RowId
from itsm_ai.notification import service
from itsm_ai.notification.models import (
    NotificationRead,
    PreferenceRead,
    PreferenceUpdate,
    RenderedRead,
    TemplatePreview,
    TemplateRead,
    TemplateUpdate,
)

router = APIRouter(tags=["notifications"])


@router.get(
    "/notifications", response_model=list[NotificationRead], summary="Your notifications, newest first"
)
def list_notifications(
    db_session: DbSession,
    user: CurrentUser,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
):
    return service.list_for_user(db_session=db_session, user=user, unread=unread, limit=limit)


@router.post("/notifications/read-all", summary="Mark all your notifications read")
def read_all(db_session: DbSession, user: CurrentUser) -> dict[str, int]:
    return {"marked": service.mark_all_read(db_session=db_session, user=user)}


@router.post(
    "/notifications/{notification_id}/read", response_model=NotificationRead, summary="Mark one read"
)
def read_one(notification_id: RowId, db_session: DbSession, user: CurrentUser):
    return service.mark_read(db_session=db_session, user=user, notification_id=notification_id)


def _pref_read(row) -> PreferenceRead:
    return PreferenceRead(email_enabled=row.email_enabled, muted_events=list(row.muted_events or []))


@router.get("/notifications/preferences", response_model=PreferenceRead, summary="Your e-mail preferences")
def get_preferences(db_session: DbSession, user: CurrentUser):
    return _pref_read(service.preference(db_session=db_session, user_id=user.id))


@router.put("/notifications/preferences", response_model=PreferenceRead, summary="Opt out of e-mail (or not)")
def put_preferences(body: PreferenceUpdate, db_session: DbSession, user: CurrentUser):
    return _pref_read(service.set_preference(db_session=db_session, user=user, pref_in=body))


@router.get("/notification-templates", response_model=list[TemplateRead], summary="Templates of every event")
def list_templates(db_session: DbSession, admin: AdminUser):
    return service.list_templates(db_session=db_session)


@router.get("/notification-templates/{event}", response_model=TemplateRead, summary="One event's template")
def get_template(event: str, db_session: DbSession, admin: AdminUser):
    return service.get_template(db_session=db_session, event=event)


@router.put("/notification-templates/{event}", response_model=TemplateRead, summary="Change a template")
def put_template(event: str, body: TemplateUpdate, db_session: DbSession, admin: AdminUser):
    return service.update_template(db_session=db_session, event=event, template_in=body, actor=admin)


@router.delete(
    "/notification-templates/{event}", response_model=TemplateRead, summary="Back to the shipped default"
)
def reset_template(event: str, db_session: DbSession, admin: AdminUser):
    return service.reset_template(db_session=db_session, event=event, actor=admin)


@router.post(
    "/notification-templates/{event}/preview",
    response_model=RenderedRead,
    status_code=status.HTTP_200_OK,
    summary="Render a template (stored or given) against sample values or a ticket",
)
def preview_template(
    event: str, body: TemplatePreview, db_session: DbSession, admin: AdminUser, response: Response
):
    subject, text = service.preview(
        db_session=db_session, event=event, subject=body.subject, body=body.body, number=body.number
    )
    return RenderedRead(subject=subject, body=text)
