"""Who hears of which ticket change: the caller, the assignee or the group's members, the approvers.

`on_record_event` is an engine listener: it runs inside the writer's transaction, so a notification exists
exactly when the change commits (never for a rolled-back write); `service.enqueue` renders and stores it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.base.record_types import TICKET_TYPES
from itsm_ai.notification import service
from itsm_ai.notification.enums import NotificationEvent
from itsm_ai.records.events import RecordEvent


def _group_members(db_session: Session, group_id: int | None) -> list[User]:
    from itsm_ai.group.models import group_members

    if group_id is None:
        return []
    stmt = (
        select(User)
        .join(group_members, group_members.c.user_id == User.id)
        .where(group_members.c.group_id == group_id, User.active.is_(True))
        .order_by(User.id)
    )
    return list(db_session.scalars(stmt))


def _handlers(db_session: Session, obj: Any) -> list[User]:
    """The assignee, or the members of the assignment group when nobody is assigned."""
    assignee = getattr(obj, "assigned_to_ref", None)
    if assignee is not None:
        return [assignee]
    return _group_members(db_session, getattr(obj, "assignment_group_id", None))


def _approvers(db_session: Session, record_type: str, record_id: int) -> list[User]:
    from itsm_ai.approval.enums import ApprovalState
    from itsm_ai.approval.models import Approval

    users: dict[int, User] = {}
    open_ = select(Approval).where(
        Approval.record_type == record_type,
        Approval.record_id == record_id,
        Approval.state == ApprovalState.requested,
    )
    for approval in db_session.scalars(open_):
        if approval.approver is not None:
            users[approval.approver.id] = approval.approver
        for member in _group_members(db_session, approval.approver_group_id):
            users[member.id] = member
    return list(users.values())


def _notify(db_session: Session, event: NotificationEvent, users: list[User], obj, record_type, actor, **kw):
    seen: set[int] = set()
    for user in users:
        if user is None or user.id in seen or (actor is not None and getattr(actor, "id", None) == user.id):
            continue  # nobody is told about what they did themselves
        seen.add(user.id)
        service.enqueue(db_session=db_session, event=event, user=user, obj=obj, record_type=record_type, **kw)


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Engine listener: queue the notifications a ticket change calls for, in the writer's transaction."""
    if event.record_type not in TICKET_TYPES:
        return
    obj, actor, record_type = event.record, event.actor, event.record_type
    actor_name = getattr(actor, "username", None) or "the service desk"
    caller = getattr(obj, "caller_ref", None)
    if event.kind == "created":
        if record_type in service.REQUESTER_TYPES and caller is not None:
            allow = not db_session.info.get(service.NO_AUTO_REPLY, False)
            service.enqueue(
                db_session=db_session,
                event=NotificationEvent.created,
                user=caller,
                obj=obj,
                record_type=record_type,
                allow_email=allow,
            )
        if getattr(obj, "assigned_to_id", None) or getattr(obj, "assignment_group_id", None):
            _notify(
                db_session, NotificationEvent.assigned, _handlers(db_session, obj), obj, record_type, actor
            )
        return
    if event.kind == "commented":
        _on_comment(db_session, event, caller, actor_name)
        return
    if event.kind in ("sla_warning", "sla_breach"):
        kind = next((f.removeprefix("sla_") for f, _o, _n in event.changes if f.startswith("sla_")), "")
        clock = {"kind": kind, "stage": event.kind.removeprefix("sla_"), "deadline": ""}
        _notify(
            db_session,
            NotificationEvent(event.kind),
            _handlers(db_session, obj),
            obj,
            record_type,
            None,
            extra={"sla": clock},
        )
        return
    if event.kind != "updated":
        return
    changes = {f: (o, n) for f, o, n in event.changes}
    if "state" in changes and changes["state"][1] == "resolved" and caller is not None:
        _notify(db_session, NotificationEvent.resolved, [caller], obj, record_type, None)
    if "assigned_to" in changes and changes["assigned_to"][1]:
        _notify(db_session, NotificationEvent.assigned, _handlers(db_session, obj), obj, record_type, actor)
    elif "assignment_group" in changes and changes["assignment_group"][1] and not obj.assigned_to_id:
        _notify(db_session, NotificationEvent.assigned, _handlers(db_session, obj), obj, record_type, actor)
    if "approval" in changes and changes["approval"][1] == "requested":
        approvers = _approvers(db_session, record_type, obj.id)
        _notify(db_session, NotificationEvent.approval_requested, approvers, obj, record_type, actor)


def _on_comment(db_session: Session, event: RecordEvent, caller: User | None, actor_name: str) -> None:
    from itsm_ai.comment.models import Comment, Visibility

    comment_id = next((n for f, _o, n in event.changes if f == "comments"), None)
    comment = db_session.get(Comment, comment_id) if comment_id is not None else None
    if comment is None or comment.visibility != Visibility.public:
        return
    extra = {"actor": actor_name, "comment": comment.body}
    obj, record_type, actor = event.record, event.record_type, event.actor
    if caller is not None and comment.author_id == caller.id:
        handlers = _handlers(db_session, obj)
        _notify(db_session, NotificationEvent.requester_reply, handlers, obj, record_type, actor, extra=extra)
    elif caller is not None and record_type in service.REQUESTER_TYPES:
        _notify(db_session, NotificationEvent.public_reply, [caller], obj, record_type, actor, extra=extra)
