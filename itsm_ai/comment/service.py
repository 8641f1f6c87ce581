"""Adding and listing comments; requesters post public replies only and never see work notes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from itsm_ai.audit import service as audit_service
from itsm_ai.base.roles import Role
from itsm_ai.comment.models import Comment, CommentCreate, CommentRead, Visibility
from itsm_ai.errors import PermissionDeniedError
from itsm_ai.records import counters
from itsm_ai.records.events import RecordEvent, publish


def _read(comment: Comment) -> CommentRead:
    return CommentRead(
        id=comment.id,
        record_type=comment.record_type,
        record_id=comment.record_id,
        body=comment.body,
        visibility=Visibility(comment.visibility),
        author=comment.author_ref.username if comment.author_ref else None,
        created_at=comment.created_at,
    )


def add(*, db_session: Session, spec, obj: Any, comment_in: CommentCreate, actor) -> CommentRead:
    """Add a public reply or an internal work note, audited (work notes audited as internal)."""
    if comment_in.visibility == Visibility.internal and (actor is None or actor.role == Role.requester):
        raise PermissionDeniedError(
            "visibility: requesters cannot write internal work notes", field="visibility"
        )
    comment = Comment(
        record_type=spec.record_type,
        record_id=obj.id,
        body=comment_in.body,
        visibility=comment_in.visibility,
        author_id=actor.id if actor else None,
    )
    db_session.add(comment)
    db_session.flush()
    internal = comment_in.visibility == Visibility.internal
    audit_service.record_event(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        actor=actor,
        action="work_note" if internal else "comment",
        field="comments",
        new=comment_in.body,
        internal=internal,
    )
    counters.bump_generation_at_commit(db_session=db_session, record_type=spec.record_type)
    # Listeners (notifications, webhooks) learn of the reply in the same transaction.
    publish(
        db_session,
        RecordEvent(
            "commented", spec.record_type, obj, actor=actor, changes=[("comments", None, comment.id)]
        ),
    )
    db_session.refresh(comment)
    return _read(comment)


def list_for(*, db_session: Session, spec, obj: Any, include_internal: bool) -> list[CommentRead]:
    """Comments on a record, oldest first; without work notes for requesters."""
    stmt = (
        select(Comment)
        .where(Comment.record_type == spec.record_type, Comment.record_id == obj.id)
        .order_by(Comment.id)
    )
    if not include_internal:
        stmt = stmt.where(Comment.visibility == Visibility.public)
    return [_read(c) for c in db_session.scalars(stmt)]


def delete_for(obj: Any, *, db_session: Session, spec, actor) -> None:
    """Delete hook of commented record types: the comments go with the record (its audit trail stays)."""
    db_session.execute(
        delete(Comment).where(Comment.record_type == spec.record_type, Comment.record_id == obj.id)
    )
