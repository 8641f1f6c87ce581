"""Knowledge article endpoints."""

from __future__ import annotations

from itsm_ai.knowledge.service import ARTICLE
from itsm_ai.records.views import make_router

router = make_router(ARTICLE)
