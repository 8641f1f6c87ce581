"""Retrieval endpoints (similar records, duplicates, major incidents, article search), and the knowledge
router: these, drafting's and the article endpoints, in the order their paths need."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from itsm_ai.auth.dependencies import CurrentUser, ReaderUser, StaffUser
from itsm_ai.base.roles import Role
from itsm_ai.database import DbSession
from itsm_ai.errors import InvalidInputError, PermissionDeniedError
from itsm_ai.knowledge import flows
from itsm_ai.knowledge.article.views import router as article_router
from itsm_ai.knowledge.drafting.views import router as drafting_router
from itsm_ai.knowledge.retrieval import service as retrieval
from itsm_ai.knowledge.retrieval.documents import ARTICLE as ARTICLE_TYPE
from itsm_ai.knowledge.retrieval.documents import INCIDENT as INCIDENT_TYPE
from itsm_ai.knowledge.retrieval.documents import RESOLVED_STATES, make_key
from itsm_ai.knowledge.retrieval.schemas import (
    DuplicateConfirm,
    SearchMode,
    SearchType,
    SimilarPage,
    SimilarQuery,
)
from itsm_ai.records import service as records
from itsm_ai.records.spec import Action
from itsm_ai.ticket.service import INCIDENT

router = APIRouter()
_similar = APIRouter(tags=["similar"])
_article_search = APIRouter(prefix="/knowledge", tags=["knowledge"])


def _search_types(user, types: list[str] | None) -> list[str] | None:
    """Requesters search published articles only; asking for tickets is refused, naming the field."""
    if user.role != Role.requester:
        return types
    if types and set(types) - {ARTICLE_TYPE}:
        raise PermissionDeniedError("types: requesters may search knowledge articles only", field="types")
    return [ARTICLE_TYPE]


@_similar.post("/similar", response_model=SimilarPage, summary="Find similar tickets and articles")
def similar(body: Annotated[SimilarQuery, Body()], db_session: DbSession, user: CurrentUser):
    types = _search_types(user, body.types)
    items = retrieval.get_service().search(
        db_session,
        body.text,
        k=body.k,
        types=types,
        states=body.state or RESOLVED_STATES,
        category=body.category,
        opened_after=body.opened_after,
        opened_before=body.opened_before,
        mode=body.mode,
    )
    return {"items": items}


@_similar.get(
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
    service = retrieval.get_service()
    service.ensure_ready(db_session)
    vector = service.vector_of(INCIDENT_TYPE, incident.id)
    items = service.search(
        db_session,
        flows.query_text(incident),
        k=k,
        types=types,
        states=state or RESOLVED_STATES,
        exclude=[make_key(INCIDENT_TYPE, incident.id)],
        vector=vector,
        mode=mode,
    )
    return {"items": items}


def _incident_for_update(db_session, user, ref: str):
    incident = records.get(db_session=db_session, spec=INCIDENT, ref=ref)
    INCIDENT.access.check(user, Action.update, incident, noun=INCIDENT.noun)
    return incident


@_similar.post(
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


@_similar.post(
    "/incidents/{ref}/duplicate/dismiss",
    response_model=INCIDENT.read_schema,
    summary="Dismiss the suggested duplicate",
)
def dismiss_duplicate(ref: str, db_session: DbSession, user: StaffUser):
    incident = _incident_for_update(db_session, user, ref)
    return records.serialize(INCIDENT, flows.dismiss_duplicate(db_session, incident=incident, actor=user))


@_similar.post(
    "/incidents/{ref}/major-incident/problem",
    status_code=201,
    response_model=INCIDENT.read_schema,
    summary="Create the problem for the incident's major-incident candidate and link the incidents",
)
def major_incident_problem(ref: str, db_session: DbSession, user: StaffUser):
    incident = _incident_for_update(db_session, user, ref)
    flows.create_problem_for(db_session, incident=incident, actor=user)
    return records.serialize(INCIDENT, incident)



@_article_search.get("/search", response_model=SimilarPage, summary="Search published knowledge articles")
def search_articles(
    db_session: DbSession,
    user: CurrentUser,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="Search text.")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    category: Annotated[str | None, Query(max_length=80)] = None,
    mode: SearchMode = "hybrid",
):
    if not q.strip():
        raise InvalidInputError("q: must not be blank", field="q")
    items = retrieval.get_service().search(
        db_session, q, k=k, types=[ARTICLE_TYPE], category=category, mode=mode
    )
    return {"items": items}


# Fixed paths (/knowledge/search, /knowledge/drafts/...) before the generic /knowledge/{ref}.
router.include_router(_similar)
router.include_router(_article_search)
router.include_router(drafting_router)
router.include_router(article_router)
