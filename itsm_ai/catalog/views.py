"""Service catalog endpoints."""

from __future__ import annotations

from itsm_ai.auth.dependencies import CurrentUser
from itsm_ai.catalog.service import CATALOG_ITEM
from itsm_ai.records.views import make_router

router = make_router(CATALOG_ITEM, CurrentUser)
