"""The intake log over the API (staff): what each received message became, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from itsm_ai.auth.dependencies import StaffUser
from itsm_ai.database import DbSession
from itsm_ai.mail import service
from itsm_ai.mail.enums import IntakeOutcome
from itsm_ai.mail.models import MailMessageRead

router = APIRouter(prefix="/mail", tags=["mail"])


@router.get("/messages", response_model=list[MailMessageRead], summary="Received mail, newest first")
def list_messages(
    db_session: DbSession,
    user: StaffUser,
    outcome: IntakeOutcome | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    return service.list_log(db_session=db_session, outcome=outcome, limit=limit)
