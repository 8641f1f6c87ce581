"""Ticket orchestration across services: the caller confirms a resolution (closing the incident) or reopens
it with a reason, which is kept as a public comment."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from itsm_ai.base.roles import STAFF
from itsm_ai.comment import service as comment_service
from itsm_ai.comment.models import CommentCreate, Visibility
from itsm_ai.errors import ConflictError, InvalidInputError, PermissionDeniedError
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import RecordSpec

RESOLVED = "resolved"


def caller_decision(
    *,
    db_session: Session,
    spec: RecordSpec,
    obj: Any,
    actor,
    version: int,
    reopen: bool,
    comment: str | None = None,
) -> Any:
    """Close a resolved ticket (the caller confirms the fix) or reopen it to in progress with a reason."""
    if actor.id != obj.caller_id and actor.role not in STAFF:
        raise PermissionDeniedError(f"only the caller of {obj.number} or the service desk can do this")
    text = (comment or "").strip()
    if reopen and not text:
        raise InvalidInputError("comment: say why the problem is not solved", field="comment")
    if obj.state != RESOLVED:
        raise ConflictError(
            f"state: {obj.number} is {obj.state}, only a resolved {spec.noun} can be confirmed or reopened",
            field="state",
        )
    new_state = "in_progress" if reopen else "closed"
    obj = record_service.update(
        db_session=db_session, spec=spec, obj=obj, data={"version": version, "state": new_state}, actor=actor
    )
    if text:
        comment_service.add(
            db_session=db_session,
            spec=spec,
            obj=obj,
            comment_in=CommentCreate(body=text, visibility=Visibility.public),
            actor=actor,
        )
    return obj
