"""SLA endpoints: admins manage calendars and policies, staff read them; a ticket's clocks are readable by
whoever may read the ticket."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_ai.auth.dependencies import CurrentUser, StaffUser
from itsm_ai.database import DbSession
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import Action
from itsm_ai.records.views import make_router
from itsm_ai.sla import policies, service
from itsm_ai.sla.calendars import SLA_CALENDAR
from itsm_ai.sla.models import PolicyRead, TicketSlaRead
from itsm_ai.sla.policies import SLA_POLICY
from itsm_ai.ticket.service import TICKET_SPECS

router = APIRouter(tags=["sla"])
router.include_router(make_router(SLA_CALENDAR, CurrentUser, list_as_array=True))
router.include_router(make_router(SLA_POLICY, CurrentUser, list_as_array=True))


@router.get(
    "/sla/defaults",
    response_model=list[PolicyRead],
    summary="The built-in policies used while no policy is stored",
)
def default_policies(user: StaffUser):
    """The built-in policies in force while none is stored (staff)."""
    return policies.default_reads()


def _add_ticket_route(spec) -> None:
    @router.get(
        f"/{spec.path}/{{ref}}/sla",
        response_model=list[TicketSlaRead],
        summary=f"SLA clocks of a {spec.noun}",
        name=f"{spec.record_type}_sla",
    )
    def ticket_sla(ref: str, db_session: DbSession, user: CurrentUser):
        """The ticket's SLA clocks now (whoever may read the ticket)."""
        obj = record_service.get_for(db_session=db_session, spec=spec, ref=ref, user=user, action=Action.read)
        return service.clocks_for(db_session=db_session, spec=spec, obj=obj)


for _spec in TICKET_SPECS.values():
    _add_ticket_route(_spec)
