"""Pages of the mail channel: the notification list (portal and console) and the portal's new-ticket form.

Ticket pages show a ticket's files through `ticket_files`, read here so the portal and console modules only
pass them on; uploads go through the public attachment API from the pages' script (files.js).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from itsm_ai.attachment import service as attachment_service
from itsm_ai.database import DbSession
from itsm_ai.notification import service as notification_service
from itsm_ai.notification.enums import NotificationEvent
from itsm_ai.ui.page_auth import ConsoleUser, PageRoute, PortalUser
from itsm_ai.ui.rendering import render

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def ticket_files(*, db_session, spec, obj: Any, user) -> list:
    """The files of a ticket this user may see (no work-note files for requesters)."""
    rows = attachment_service.list_for(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        include_internal=attachment_service.sees_internal(user),
    )
    return [attachment_service.to_read(a, getattr(obj, "number", None)) for a in rows]


def _notifications_page(request: Request, db_session, user, template: str):
    return render(
        request,
        template,
        user,
        notifications=notification_service.list_for_user(db_session=db_session, user=user, limit=100),
        preference=notification_service.preference(db_session=db_session, user_id=user.id),
        events=[e.value for e in NotificationEvent],
    )


@router.get("/portal/notifications")
def portal_notifications(request: Request, db_session: DbSession, user: PortalUser):
    """The requester's notifications and e-mail preference."""
    return _notifications_page(request, db_session, user, "portal/notifications.html")


@router.get("/console/notifications")
def console_notifications(request: Request, db_session: DbSession, user: ConsoleUser):
    """An agent's notifications (assignments, SLA warnings, requester replies) and e-mail preference."""
    return _notifications_page(request, db_session, user, "console/notifications.html")


@router.get("/portal/new")
def portal_new_ticket(request: Request, user: PortalUser):
    """Report a problem with a form (and files), for those who prefer it to the chat."""
    return render(request, "portal/new.html", user)
