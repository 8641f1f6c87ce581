"""Notifications: templates, preferences, the in-app inbox, and rendering a notification into an outbox row.

`enqueue` runs inside the writer's transaction (called by the engine listener in `recipients`), so a
notification exists exactly when the change commits and the worker mails it later. Each row has its own
Message-ID, stored, so a reply to the mail threads onto the ticket.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from itsm_ai.audit import service as audit_service
from itsm_ai.auth.models import User
from itsm_ai.base.levels import PRIORITY_LABELS
from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.notification import templates
from itsm_ai.notification.enums import DeliveryState, NotificationEvent
from itsm_ai.notification.models import (
    Notification,
    NotificationPreference,
    NotificationTemplate,
    PreferenceUpdate,
    TemplateRead,
    TemplateUpdate,
)

NO_AUTO_REPLY = "mail.no_auto_reply"
INBOUND_IDS = "mail.inbound_ids"
REQUESTER_TYPES = frozenset({"incident", "service_request"})
PORTAL_PATH = {"incident": "portal/tickets", "service_request": "portal/tickets"}
AUDIT_TYPE = "notification_template"

# (db_session, record_type, record_id) -> the Message-ID a record's mail thread began with, or None.
ThreadRoot = Callable[[Session, str, int], str | None]
# The mail intake knows the first mail taken in on a record; it sends its answers through this module, so it
# hands that look-up down (`add_thread_root`, when the store is assembled) rather than being imported here.
_thread_roots: list[ThreadRoot] = []


def own_addresses() -> set[str]:
    """Every address of the service itself (never a recipient, never a ticket)."""
    settings = get_settings()
    return {a.lower() for a in [settings.mail_address, settings.mail_from, *settings.mail_aliases] if a}


def new_message_id() -> str:
    """A fresh Message-ID (without angle brackets) in the service's domain."""
    return f"{uuid.uuid4().hex}@{get_settings().mail_domain}"


# -- templates -----------------------------------------------------------------------------------------------


def _event(name: str) -> NotificationEvent:
    try:
        return NotificationEvent(name)
    except ValueError as exc:
        raise NotFoundError(f"no notification event {name!r}") from exc


def template_source(db_session: Session, event: NotificationEvent) -> tuple[str, str]:
    """(subject, body) templates of an event: the admin's version, else the shipped default."""
    row = db_session.scalar(select(NotificationTemplate).where(NotificationTemplate.event == event))
    return (row.subject, row.body) if row is not None else templates.DEFAULTS[event]


def _template_read(event: NotificationEvent, row: NotificationTemplate | None) -> TemplateRead:
    subject, body = (row.subject, row.body) if row is not None else templates.DEFAULTS[event]
    return TemplateRead(
        event=event,
        subject=subject,
        body=body,
        customized=row is not None,
        version=row.version if row is not None else None,
        updated_at=row.updated_at if row is not None else None,
        variables=templates.VARIABLES,
    )


def list_templates(*, db_session: Session) -> list[TemplateRead]:
    """Every event's template (customized or default)."""
    rows = {r.event: r for r in db_session.scalars(select(NotificationTemplate))}
    return [_template_read(e, rows.get(e)) for e in NotificationEvent]


def get_template(*, db_session: Session, event: str) -> TemplateRead:
    """One event's template."""
    ev = _event(event)
    row = db_session.scalar(select(NotificationTemplate).where(NotificationTemplate.event == ev))
    return _template_read(ev, row)


def check_template(subject: str, body: str) -> None:
    """Compile and trial-render both parts; 422 naming the part and line when one is broken."""
    for name, source in (("subject", subject), ("body", body)):
        try:
            templates.render(source, templates.sample_context())
        except templates.TemplateError as exc:
            raise InvalidInputError(f"{name}: {exc}", field=name) from exc


def update_template(*, db_session: Session, event: str, template_in: TemplateUpdate, actor) -> TemplateRead:
    """Store an admin's template for an event (optimistic locking on `version`), audited."""
    ev = _event(event)
    check_template(template_in.subject, template_in.body)
    row = db_session.scalar(select(NotificationTemplate).where(NotificationTemplate.event == ev))
    if row is not None and template_in.version != row.version:
        raise ConflictError(
            f"the {ev} template was changed by someone else (current version {row.version}); "
            "reload and retry",
            field="version",
            details={"current_version": row.version},
        )
    old = template_source(db_session, ev)
    if row is None:
        row = NotificationTemplate(event=ev, subject=template_in.subject, body=template_in.body)
        db_session.add(row)
    else:
        row.subject, row.body = template_in.subject, template_in.body
    row.updated_by_id = actor.id
    db_session.flush()
    changes = [
        (f"{ev}.{part}", before, after)
        for part, before, after in (
            ("subject", old[0], template_in.subject),
            ("body", old[1], template_in.body),
        )
        if before != after
    ]
    audit_service.record_changes(
        db_session=db_session, record_type=AUDIT_TYPE, record_id=row.id, actor=actor, changes=changes
    )
    return _template_read(ev, row)


def reset_template(*, db_session: Session, event: str, actor) -> TemplateRead:
    """Go back to the shipped default of an event (audited)."""
    ev = _event(event)
    row = db_session.scalar(select(NotificationTemplate).where(NotificationTemplate.event == ev))
    if row is not None:
        audit_service.record_event(
            db_session=db_session,
            record_type=AUDIT_TYPE,
            record_id=row.id,
            actor=actor,
            action="reset",
            old=ev,
        )
        db_session.delete(row)
        db_session.flush()
    return _template_read(ev, None)


# -- preferences ---------------------------------------------------------------------------------------------


def preference(*, db_session: Session, user_id: int) -> NotificationPreference:
    """A user's preference (defaults when never set: e-mail on, nothing muted)."""
    row = db_session.get(NotificationPreference, user_id)
    return (
        row
        if row is not None
        else NotificationPreference(user_id=user_id, email_enabled=True, muted_events=[])
    )


def set_preference(*, db_session: Session, user, pref_in: PreferenceUpdate) -> NotificationPreference:
    """Change a user's own preference."""
    row = db_session.get(NotificationPreference, user.id)
    if row is None:
        row = NotificationPreference(user_id=user.id, email_enabled=True, muted_events=[])
        db_session.add(row)
    if pref_in.email_enabled is not None:
        row.email_enabled = pref_in.email_enabled
    if pref_in.muted_events is not None:
        row.muted_events = sorted({str(e) for e in pref_in.muted_events})
    db_session.flush()
    return row


# -- the in-app list -----------------------------------------------------------------------------------------


def list_for_user(*, db_session: Session, user, unread: bool = False, limit: int = 50) -> list[Notification]:
    """A user's notifications, newest first."""
    stmt = select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc())
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(db_session.scalars(stmt.limit(limit)))


def mark_read(*, db_session: Session, user, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (someone else's is 404)."""
    row = db_session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError(f"notification {notification_id} not found")
    if row.read_at is None:
        row.read_at = utcnow()
        db_session.flush()
    return row


def mark_all_read(*, db_session: Session, user) -> int:
    """Mark every unread notification of the user read; returns how many."""
    result = db_session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


# -- rendering and enqueueing --------------------------------------------------------------------------------


def ticket_context(obj: Any) -> dict[str, Any]:
    """The ticket fields templates may use."""
    def ref(name: str, key: str) -> str | None:
        target = getattr(obj, name, None)
        return getattr(target, key, None) if target is not None else None

    return {
        "number": getattr(obj, "number", None),
        "short_description": getattr(obj, "short_description", "") or "",
        "description": getattr(obj, "description", "") or "",
        "state": str(getattr(obj, "state", "") or "").replace("_", " "),
        "priority_label": PRIORITY_LABELS.get(getattr(obj, "priority", None), ""),
        "assignment_group": ref("assignment_group_ref", "name"),
        "assigned_to": ref("assigned_to_ref", "username"),
        "caller": ref("caller_ref", "username"),
        "resolution_code": str(getattr(obj, "resolution_code", "") or "").replace("_", " ") or None,
        "resolution_notes": getattr(obj, "resolution_notes", None),
    }


def ticket_url(record_type: str | None, number: str | None, user: User | None) -> str:
    """Where the recipient sees the ticket: the portal for requesters, the console for staff."""
    base = get_settings().mail_base_url.rstrip("/")
    if not number:
        return base
    if user is not None and str(user.role) == "requester" and record_type in PORTAL_PATH:
        return f"{base}/portal/tickets/{number}"
    return f"{base}/console/tickets/{number}"


def add_thread_root(lookup: ThreadRoot) -> None:
    """Register a look-up of the Message-ID a record's mail thread began with (idempotent)."""
    if lookup not in _thread_roots:
        _thread_roots.append(lookup)


def thread_headers(
    db_session: Session, record_type: str | None, record_id: int | None
) -> tuple[str | None, str]:
    """(In-Reply-To, References) that keep a ticket's mails in one thread in the recipient's client."""
    if record_type is None or record_id is None:
        return None, ""
    ids: list[str] = list(db_session.info.get(INBOUND_IDS, []))
    roots = (root(db_session, record_type, record_id) for root in _thread_roots)
    first_in = next((found for found in roots if found), None)
    if first_in:
        ids.insert(0, first_in)
    last_out = db_session.scalar(
        select(Notification.message_id)
        .where(Notification.record_type == record_type, Notification.record_id == record_id)
        .order_by(Notification.id.desc())
        .limit(1)
    )
    if last_out:
        ids.append(last_out)
    ids = list(dict.fromkeys(ids))[-10:]
    return (ids[-1] if ids else None), " ".join(f"<{i}>" for i in ids)


def enqueue(
    *,
    db_session: Session,
    event: NotificationEvent,
    user: User | None,
    obj: Any | None = None,
    record_type: str | None = None,
    address: str | None = None,
    extra: dict[str, Any] | None = None,
    allow_email: bool = True,
) -> Notification:
    """Render the event's template for one recipient and write its outbox row (pending, or skipped: why)."""
    settings = get_settings()
    number = getattr(obj, "number", None)
    context: dict[str, Any] = {
        "ticket": ticket_context(obj) if obj is not None else {},
        "recipient": {
            "username": getattr(user, "username", None),
            "name": (getattr(user, "full_name", None) or getattr(user, "username", None) or "there"),
        },
        "url": ticket_url(record_type, number, user),
        "service_address": settings.mail_address,
        "actor": "",
        "comment": "",
        "sla": {},
        "reason": "",
        "subject": "",
    }
    context.update(extra or {})
    subject_src, body_src = template_source(db_session, event)
    try:
        subject = templates.render(subject_src, context)
        body = templates.render(body_src, context)
    except templates.TemplateError:
        # A stored template that fails on this ticket's values must not block the change itself.
        subject = templates.render(templates.DEFAULTS[event][0], context)
        body = templates.render(templates.DEFAULTS[event][1], context)
    recipient = (address or getattr(user, "email", None) or "").strip().lower() or None
    status, reason = DeliveryState.pending, None
    if not allow_email:
        status, reason = DeliveryState.skipped, "no automatic answer to this mail (RFC 3834)"
    elif recipient is None:
        status, reason = DeliveryState.skipped, "no e-mail address"
    elif recipient in own_addresses():
        status, reason = DeliveryState.skipped, "the service's own address"
    elif user is not None and not _wants_email(db_session, user.id, event):
        status, reason = DeliveryState.skipped, "opted out of e-mail"
    elif not settings.mail_smtp_host:
        status, reason = DeliveryState.skipped, "no SMTP relay configured (ITSM_MAIL_SMTP_HOST)"
    in_reply_to, references = thread_headers(db_session, record_type, getattr(obj, "id", None))
    row = Notification(
        event=event,
        record_type=record_type,
        record_id=getattr(obj, "id", None),
        number=number,
        user_id=getattr(user, "id", None),
        recipient=recipient,
        subject=templates.with_tag(subject, number),
        body=body,
        message_id=new_message_id(),
        in_reply_to=in_reply_to,
        references=references or None,
        status=status,
        skip_reason=reason,
        next_attempt_at=utcnow(),
        created_at=utcnow(),
    )
    db_session.add(row)
    db_session.flush()
    return row


def _wants_email(db_session: Session, user_id: int, event: NotificationEvent) -> bool:
    pref = db_session.get(NotificationPreference, user_id)
    return pref is None or (pref.email_enabled and str(event) not in (pref.muted_events or []))


def preview(
    *, db_session: Session, event: str, subject: str | None, body: str | None, number: str | None
) -> tuple[str, str]:
    """Render a template (the stored one, or the given text) with sample values or a real ticket's."""
    from itsm_ai.records import service as record_service
    from itsm_ai.ticket.service import TICKET_SPECS

    ev = _event(event)
    stored = template_source(db_session, ev)
    subject_src, body_src = subject or stored[0], body or stored[1]
    context = templates.sample_context()
    if number:
        prefix_types = {spec.prefix: spec for spec in TICKET_SPECS.values()}
        spec = prefix_types.get(number.upper().rstrip("0123456789"))
        if spec is None:
            raise InvalidInputError(f"number: {number!r} is not a ticket number", field="number")
        obj = record_service.get(db_session=db_session, spec=spec, ref=number)
        context["ticket"] = ticket_context(obj)
    out = []
    for name, source in (("subject", subject_src), ("body", body_src)):
        try:
            out.append(templates.render(source, context))
        except templates.TemplateError as exc:
            raise InvalidInputError(f"{name}: {exc}", field=name) from exc
    return templates.with_tag(out[0], context["ticket"].get("number")), out[1]
