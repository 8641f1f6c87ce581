"""Knowledge endpoints: articles (CRUD, feedback, views), similar records, duplicates, drafts, reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from itsm_ai.auth.dependencies import CurrentUser, ReaderUser, StaffUser
from itsm_ai.base.roles import Role
from itsm_ai.database import DbSession
from itsm_ai.errors import PermissionDeniedError
from itsm_ai.knowledge import articles, flows
from itsm_ai.knowledge import search as ks
from itsm_ai.knowledge.models import FeedbackCreate, FeedbackRead
from itsm_ai.knowledge.schemas import (
    DraftRequest,
    DraftResult,
    DuplicateConfirm,
    GapReport,
    SearchMode,
    SearchType,
    SimilarPage,
    SimilarQuery,
    StaleReport,
)
from itsm_ai.knowledge.service import ARTICLE
from itsm_ai.records import service as records
from itsm_ai.records.spec import Action
from itsm_ai.records.views import make_router
from itsm_ai.ticket.service import INCIDENT

router = APIRouter()
_knowledge = APIRouter(prefix="/knowledge", tags=["knowledge"])
_retrieval = APIRouter(tags=["similar"])


def _search_types(user, types: list[str] | None) -> list[str] | None:
    """Requesters search published articles only; asking for tickets is refused, naming the field."""
    if user.role != Role.requester:
        return types
    if types and set(types) - {ks.ARTICLE}:
        raise PermissionDeniedError("types: requesters may search knowledge articles only", field="types")
    return [ks.ARTICLE]


@_retrieval.post("/similar", response_model=SimilarPage, summary="Find similar tickets and articles")
def similar(body: Annotated[SimilarQuery, Body()], db_session: DbSession, user: CurrentUser):
    types = _search_types(user, body.types)
    items = ks.get_service().search(
        db_session,
        body.text,
        k=body.k,
        types=types,
        states=body.state or ks.RESOLVED_STATES,
        category=body.category,
        opened_after=body.opened_after,
        opened_before=body.opened_before,
        mode=body.mode,
    )
    return {"items": items}


@_retrieval.get(
    "/incidents/{ref}/similar", response_model=SimilarPage, summary="Similar records for an incident"
)
def incident_similar(
    ref: str,
    db_session: DbSession,
    user: ReaderUser,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    types: Annotated[list[SearchType] | None, Query()] = None,
    state: Annotated[list[str] | None, Query(description='Default ["resolved", "closed"].')] = None,
    mode: SearchMode = "hybrid",
):
    incident = records.get(db_session=db_session, spec=INCIDENT, ref=ref)
    INCIDENT.access.check(user, Action.read, incident, noun=INCIDENT.noun)
    service = ks.get_service()
    service.ensure_ready(db_session)
    vector = service.vector_of(ks.INCIDENT, incident.id)
    items = service.search(
        db_session,
        flows.query_text(incident),
        k=k,
        types=types,
        states=state or ks.RESOLVED_STATES,
        exclude=[ks.make_key(ks.INCIDENT, incident.id)],
        vector=vector,
        mode=mode,
    )
    return {"items": items}


def _incident_for_update(db_session, user, ref: str):
    incident = records.get(db_session=db_session, spec=INCIDENT, ref=ref)
    INCIDENT.access.check(user, Action.update, incident, noun=INCIDENT.noun)
    return incident


@_retrieval.post(
    "/incidents/{ref}/duplicate/confirm",
    response_model=INCIDENT.read_schema,
    summary="Confirm the suggested duplicate (sets duplicate_of)",
)
def confirm_duplicate(
    ref: str,
    db_session: DbSession,
    user: StaffUser,
    body: Annotated[DuplicateConfirm | None, Body()] = None,
):
    incident = _incident_for_update(db_session, user, ref)
    incident = flows.confirm_duplicate(
        db_session, incident=incident, actor=user, master=body.number if body else None
    )
    return records.serialize(INCIDENT, incident)


@_retrieval.post(
    "/incidents/{ref}/duplicate/dismiss",
    response_model=INCIDENT.read_schema,
    summary="Dismiss the suggested duplicate",
)
def dismiss_duplicate(ref: str, db_session: DbSession, user: StaffUser):
    incident = _incident_for_update(db_session, user, ref)
    return records.serialize(INCIDENT, flows.dismiss_duplicate(db_session, incident=incident, actor=user))


@_retrieval.post(
    "/incidents/{ref}/major-incident/problem",
    status_code=201,
    response_model=INCIDENT.read_schema,
    summary="Create the problem for the incident's major-incident candidate and link the incidents",
)
def major_incident_problem(ref: str, db_session: DbSession, user: StaffUser):
    incident = _incident_for_update(db_session, user, ref)
    flows.create_problem_for(db_session, incident=incident, actor=user)
    return records.serialize(INCIDENT, incident)


# ------------------------------------------------------------------------------------------- articles


@_knowledge.get("/search", response_model=SimilarPage, summary="Search published knowledge articles")
def search_articles(
    db_session: DbSession,
    user: CurrentUser,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="Search text.")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    category: Annotated[str | None, Query(max_length=80)] = None,
    mode: SearchMode = "hybrid",
):
    if not q.strip():
        from itsm_ai.errors import InvalidInputError

        raise InvalidInputError("q: must not be blank", field="q")
    items = ks.get_service().search(
        db_session, q, k=k, types=[ks.ARTICLE], category=category, mode=mode
    )
    return {"items": items}


@_knowledge.post(
    "/drafts/generate",
    response_model=DraftResult,
    summary="Draft articles (state review) from clusters of resolved tickets no article covers",
)
def generate_drafts(
    db_session: DbSession, user: StaffUser, body: Annotated[DraftRequest | None, Body()] = None
):
    from itsm_ai.knowledge import drafts

    return drafts.generate(db_session=db_session, actor=user, request=body or DraftRequest())


@_knowledge.get("/reports/gaps", response_model=GapReport, summary="Clusters of tickets no article covers")
def gap_report(
    db_session: DbSession,
    user: ReaderUser,
    days: Annotated[int | None, Query(ge=1, le=3650)] = 90,
    min_cluster_size: Annotated[int | None, Query(ge=2, le=1000)] = None,
):
    from itsm_ai.knowledge import drafts

    return drafts.gaps(db_session=db_session, days=days, min_cluster_size=min_cluster_size)


@_knowledge.get(
    "/reports/stale",
    response_model=StaleReport,
    summary="Articles whose tickets are now resolved differently",
)
def stale_report(
    db_session: DbSession,
    user: ReaderUser,
    days: Annotated[int | None, Query(ge=1, le=3650)] = 180,
    min_recent: Annotated[int, Query(ge=1, le=1000)] = 3,
):
    from itsm_ai.knowledge import drafts

    return drafts.stale(db_session=db_session, days=days, min_recent=min_recent)


@_knowledge.post(
    "/{ref}/feedback", status_code=201, response_model=FeedbackRead, summary='"Was this helpful?"'
)
def feedback(ref: str, body: Annotated[FeedbackCreate, Body()], db_session: DbSession, user: CurrentUser):
    article = records.get(db_session=db_session, spec=ARTICLE, ref=ref)
    ARTICLE.access.check(user, Action.read, article, noun=ARTICLE.noun)
    return articles.give_feedback(db_session=db_session, article=article, user=user, feedback_in=body)


@_knowledge.get("/{ref}", response_model=ARTICLE.read_schema, summary="Read an article (counts a view)")
def read_article(ref: str, db_session: DbSession, user: CurrentUser):
    ARTICLE.access.check(user, Action.read, noun=ARTICLE.noun)
    article = records.get(db_session=db_session, spec=ARTICLE, ref=ref)
    ARTICLE.access.check(user, Action.read, article, noun=ARTICLE.noun)
    articles.count_view(db_session=db_session, article=article)
    return records.serialize(ARTICLE, article)


def _article_router() -> APIRouter:
    """The generic article endpoints, minus the plain read (ours counts views)."""
    generic = make_router(ARTICLE, CurrentUser)
    generic.routes = [
        r for r in generic.routes
        if not (getattr(r, "path", "") == "/knowledge/{ref}" and "GET" in getattr(r, "methods", ()))
    ]
    return generic


# Fixed paths (/knowledge/search, /knowledge/drafts/...) before the generic /knowledge/{ref}.
router.include_router(_retrieval)
router.include_router(_knowledge)
router.include_router(_article_router())
