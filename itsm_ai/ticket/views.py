"""Ticket endpoints: incidents, problems, changes and service requests, with their comments."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_ai.auth.dependencies import CurrentUser
from itsm_ai.comment import views as comment_views
from itsm_ai.database import DbSession
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import Action
from itsm_ai.records.views import make_router
from itsm_ai.ticket import flows
from itsm_ai.ticket.models import CallerDecision
from itsm_ai.ticket.service import INCIDENT, TICKET_SPECS

router = APIRouter()
for _spec in TICKET_SPECS.values():
    _router = make_router(_spec, CurrentUser)
    comment_views.add_routes(_router, _spec)
    router.include_router(_router)


def _decision_route(reopen: bool):
    def decide(ref: str, body: CallerDecision, db_session: DbSession, user: CurrentUser):
        obj = record_service.get_for(
            db_session=db_session, spec=INCIDENT, ref=ref, user=user, action=Action.read
        )
        obj = flows.caller_decision(
            db_session=db_session,
            spec=INCIDENT,
            obj=obj,
            actor=user,
            version=body.version,
            reopen=reopen,
            comment=body.comment,
        )
        return record_service.serialize(INCIDENT, obj)

    return decide


router.add_api_route(
    "/incidents/{ref}/confirm",
    _decision_route(reopen=False),
    methods=["POST"],
    response_model=INCIDENT.read_schema,
    tags=["incidents"],
    summary="The caller confirms the resolution: the incident closes",
    name="confirm_incident_resolution",
)
router.add_api_route(
    "/incidents/{ref}/reopen",
    _decision_route(reopen=True),
    methods=["POST"],
    response_model=INCIDENT.read_schema,
    tags=["incidents"],
    summary="The caller reopens a resolved incident, saying why (kept as a public comment)",
    name="reopen_incident",
)
