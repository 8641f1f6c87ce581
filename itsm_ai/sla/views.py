"""SLA endpoints: admins manage calendars and policies, staff read them; a ticket's clocks are readable by
whoever may read the ticket."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from itsm_ai.auth.dependencies import AdminUser, CurrentUser, StaffUser
from itsm_ai.database import DbSession
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import Action
from itsm_ai.sla import calendars, policies, service
from itsm_ai.sla.models import (
    CalendarCreate,
    CalendarRead,
    CalendarUpdate,
    PolicyCreate,
    PolicyRead,
    PolicyUpdate,
    TicketSlaRead,
)
from itsm_ai.ticket.service import CHANGE, INCIDENT, PROBLEM, SERVICE_REQUEST

router = APIRouter(tags=["sla"])


@router.get("/sla/calendars", response_model=list[CalendarRead], summary="SLA business calendars")
def list_calendars(db_session: DbSession, user: StaffUser):
    """Every SLA calendar (staff)."""
    return [calendars.calendar_read(c) for c in calendars.list_calendars(db_session=db_session)]


@router.post(
    "/sla/calendars",
    response_model=CalendarRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create an SLA business calendar",
)
def create_calendar(body: CalendarCreate, db_session: DbSession, admin: AdminUser):
    """Create an SLA calendar (admins)."""
    row = calendars.create_calendar(db_session=db_session, calendar_in=body, actor=admin)
    return calendars.calendar_read(row)


@router.get("/sla/calendars/{ref}", response_model=CalendarRead, summary="An SLA calendar by id or name")
def read_calendar(ref: str, db_session: DbSession, user: StaffUser):
    """One SLA calendar by id or name (staff)."""
    return calendars.calendar_read(calendars.get_calendar(db_session=db_session, ref=ref))


@router.patch("/sla/calendars/{ref}", response_model=CalendarRead, summary="Change an SLA calendar")
def update_calendar(ref: str, body: CalendarUpdate, db_session: DbSession, admin: AdminUser):
    """Change an SLA calendar, sending its version (admins)."""
    row = calendars.get_calendar(db_session=db_session, ref=ref)
    row = calendars.update_calendar(db_session=db_session, row=row, update_in=body, actor=admin)
    return calendars.calendar_read(row)


@router.delete(
    "/sla/calendars/{ref}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an unused SLA calendar"
)
def delete_calendar(ref: str, db_session: DbSession, admin: AdminUser):
    """Delete an SLA calendar no policy uses (admins)."""
    row = calendars.get_calendar(db_session=db_session, ref=ref)
    calendars.delete_calendar(db_session=db_session, row=row, actor=admin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sla/policies", response_model=list[PolicyRead], summary="SLA policies in selection order")
def list_policies(db_session: DbSession, user: StaffUser):
    """Every stored SLA policy in selection order (staff)."""
    return [policies.policy_read(p) for p in policies.list_policies(db_session=db_session)]


@router.get(
    "/sla/defaults",
    response_model=list[PolicyRead],
    summary="The built-in policies used while no policy is stored",
)
def default_policies(user: StaffUser):
    """The built-in policies in force while none is stored (staff)."""
    return policies.default_reads()


@router.post(
    "/sla/policies",
    response_model=PolicyRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create an SLA policy",
)
def create_policy(body: PolicyCreate, db_session: DbSession, admin: AdminUser):
    """Create an SLA policy (admins)."""
    return policies.policy_read(policies.create_policy(db_session=db_session, policy_in=body, actor=admin))


@router.get("/sla/policies/{ref}", response_model=PolicyRead, summary="An SLA policy by id or name")
def read_policy(ref: str, db_session: DbSession, user: StaffUser):
    """One SLA policy by id or name (staff)."""
    return policies.policy_read(policies.get_policy(db_session=db_session, ref=ref))


@router.patch(
    "/sla/policies/{ref}", response_model=PolicyRead, summary="Change an SLA policy (send its version)"
)
def update_policy(ref: str, body: PolicyUpdate, db_session: DbSession, admin: AdminUser):
    """Change an SLA policy, sending its version (admins)."""
    row = policies.get_policy(db_session=db_session, ref=ref)
    row = policies.update_policy(db_session=db_session, row=row, update_in=body, actor=admin)
    return policies.policy_read(row)


@router.delete("/sla/policies/{ref}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an SLA policy")
def delete_policy(ref: str, db_session: DbSession, admin: AdminUser):
    """Delete an SLA policy; running clocks keep their snapshot (admins)."""
    row = policies.get_policy(db_session=db_session, ref=ref)
    policies.delete_policy(db_session=db_session, row=row, actor=admin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _add_ticket_route(spec) -> None:
    @router.get(
        f"/{spec.path}/{{ref}}/sla",
        response_model=list[TicketSlaRead],
        summary=f"SLA clocks of a {spec.noun}",
        name=f"{spec.record_type}_sla",
    )
    def ticket_sla(ref: str, db_session: DbSession, user: CurrentUser):
        """The ticket's SLA clocks now (whoever may read the ticket)."""
        spec.access.check(user, Action.read, noun=spec.noun)
        obj = record_service.get(db_session=db_session, spec=spec, ref=ref)
        spec.access.check(user, Action.read, obj, noun=spec.noun)
        return service.clocks_for(db_session=db_session, spec=spec, obj=obj)


for _spec in (INCIDENT, PROBLEM, CHANGE, SERVICE_REQUEST):
    _add_ticket_route(_spec)
