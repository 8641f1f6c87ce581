"""Drafting endpoints: draft articles from clusters of resolved tickets, the knowledge-gap and stale-article
reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from itsm_ai.auth.dependencies import ReaderUser, StaffUser
from itsm_ai.database import DbSession
from itsm_ai.knowledge.drafting import flows
from itsm_ai.knowledge.drafting.schemas import DraftRequest, DraftResult, GapReport, StaleReport

router = APIRouter(prefix="/knowledge", tags=["knowledge"])


@router.post(
    "/drafts/generate",
    response_model=DraftResult,
    summary="Draft articles (state review) from clusters of resolved tickets no article covers",
)
def generate_drafts(
    db_session: DbSession, user: StaffUser, body: Annotated[DraftRequest | None, Body()] = None
):
    return flows.generate(db_session=db_session, actor=user, request=body or DraftRequest())


@router.get("/reports/gaps", response_model=GapReport, summary="Clusters of tickets no article covers")
def gap_report(
    db_session: DbSession,
    user: ReaderUser,
    days: Annotated[int | None, Query(ge=1, le=3650)] = 90,
    min_cluster_size: Annotated[int | None, Query(ge=2, le=1000)] = None,
):
    return flows.gaps(db_session=db_session, days=days, min_cluster_size=min_cluster_size)


@router.get(
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
    return flows.stale(db_session=db_session, days=days, min_recent=min_recent)
