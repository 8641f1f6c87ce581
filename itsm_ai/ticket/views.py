"""Ticket endpoints: incidents, problems, changes and service requests, with their comments."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_ai.auth.dependencies import CurrentUser
from itsm_ai.comment import views as comment_views
from itsm_ai.records.views import make_router
from itsm_ai.ticket.service import TICKET_SPECS

router = APIRouter()
for _spec in TICKET_SPECS.values():
    _router = make_router(_spec, CurrentUser)
    comment_views.add_routes(_router, _spec)
    router.include_router(_router)
