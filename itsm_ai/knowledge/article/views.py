"""Knowledge article endpoints: reading (counts a view), "was this helpful" votes, and the generic article
CRUD."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from itsm_ai.auth.dependencies import CurrentUser
from itsm_ai.database import DbSession
from itsm_ai.knowledge.article import feedback as feedback_service
from itsm_ai.knowledge.article.models import FeedbackCreate, FeedbackRead
from itsm_ai.knowledge.article.service import ARTICLE
from itsm_ai.records import service as records
from itsm_ai.records.spec import Action
from itsm_ai.records.views import make_router

router = APIRouter()
_knowledge = APIRouter(prefix="/knowledge", tags=["knowledge"])


@_knowledge.post(
    "/{ref}/feedback", status_code=201, response_model=FeedbackRead, summary='"Was this helpful?"'
)
def feedback(ref: str, body: Annotated[FeedbackCreate, Body()], db_session: DbSession, user: CurrentUser):
    article = records.get(db_session=db_session, spec=ARTICLE, ref=ref)
    ARTICLE.access.check(user, Action.read, article, noun=ARTICLE.noun)
    return feedback_service.give_feedback(db_session=db_session, article=article, user=user, feedback_in=body)


@_knowledge.get("/{ref}", response_model=ARTICLE.read_schema, summary="Read an article (counts a view)")
def read_article(ref: str, db_session: DbSession, user: CurrentUser):
    ARTICLE.access.check(user, Action.read, noun=ARTICLE.noun)
    article = records.get(db_session=db_session, spec=ARTICLE, ref=ref)
    ARTICLE.access.check(user, Action.read, article, noun=ARTICLE.noun)
    feedback_service.count_view(db_session=db_session, article=article)
    return records.serialize(ARTICLE, article)


def _article_router() -> APIRouter:
    """The generic article endpoints, minus the plain read (ours counts views)."""
    generic = make_router(ARTICLE, CurrentUser)
    generic.routes = [
        r for r in generic.routes
        if not (getattr(r, "path", "") == "/knowledge/{ref}" and "GET" in getattr(r, "methods", ()))
    ]
    return generic


# /knowledge/{ref}/feedback and the counting read before the generic article routes.
router.include_router(_knowledge)
router.include_router(_article_router())
