"""Comment endpoints (public replies and internal work notes) on the records that take comments."""

from __future__ import annotations

from fastapi import APIRouter, status

from itsm_ai.auth.dependencies import CurrentUser
from itsm_ai.base.roles import Role
from itsm_ai.comment import service
from itsm_ai.comment.models import CommentCreate, CommentRead
from itsm_ai.database import DbSession
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import Action, RecordSpec


def add_routes(router: APIRouter, spec: RecordSpec) -> None:
    """Add GET and POST /{ref}/comments for a record type to its router."""

    @router.get(
        "/{ref}/comments",
        response_model=list[CommentRead],
        summary="Comments and work notes",
        name=f"list_{spec.record_type}_comments",
    )
    def comments(ref: str, db_session: DbSession, user: CurrentUser):
        obj = record_service.get_for(db_session=db_session, spec=spec, ref=ref, user=user, action=Action.read)
        return service.list_for(
            db_session=db_session, spec=spec, obj=obj, include_internal=user.role != Role.requester
        )

    @router.post(
        "/{ref}/comments",
        status_code=status.HTTP_201_CREATED,
        response_model=CommentRead,
        summary="Add a comment",
        name=f"add_{spec.record_type}_comment",
    )
    def add_comment(ref: str, body: CommentCreate, db_session: DbSession, user: CurrentUser):
        obj = record_service.get_for(
            db_session=db_session, spec=spec, ref=ref, user=user, action=Action.comment
        )
        return service.add(db_session=db_session, spec=spec, obj=obj, comment_in=body, actor=user)
