"""Assignment group endpoints: agents read, admins manage (the generic record endpoints)."""

from __future__ import annotations

from itsm_ai.auth.dependencies import CurrentUser
from itsm_ai.group.service import GROUP
from itsm_ai.records.views import make_router

router = make_router(GROUP, CurrentUser)
