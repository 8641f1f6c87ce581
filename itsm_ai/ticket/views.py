"""Ticket endpoints: incidents, problems, changes and service requests."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_ai.records.views import make_router
from itsm_ai.ticket.service import CHANGE, INCIDENT, PROBLEM, SERVICE_REQUEST

router = APIRouter()
for _spec in (INCIDENT, PROBLEM, CHANGE, SERVICE_REQUEST):
    router.include_router(make_router(_spec))
