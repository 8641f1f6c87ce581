"""Triage endpoints: feedback on suggestions, free-text triage, the model registry for data scientists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from itsm_ai.auth.dependencies import DataUser, ReaderUser, StaffUser
from itsm_ai.classify import feedback, model_catalog
from itsm_ai.classify.enums import FeedbackAction
from itsm_ai.classify.estimators.text import ticket_text
from itsm_ai.classify.models import (
    AcceptBody,
    ChallengerBody,
    OverrideBody,
    PromoteBody,
    TrainBody,
    TrainingJobRead,
    TriageRequest,
)
from itsm_ai.classify.serving import shadow
from itsm_ai.classify.serving.suggestions import suggest_for_text
from itsm_ai.classify.training import jobs
from itsm_ai.database import DbSession
from itsm_ai.errors import InvalidInputError
from itsm_ai.inputs import RowId
from itsm_ai.records import service as records
from itsm_ai.records.spec import Action, RecordSpec

router = APIRouter()


# ------------------------------------------------------------------------------------------ feedback


def _feedback_routes(spec: RecordSpec) -> APIRouter:
    sub = APIRouter(prefix=f"/{spec.path}", tags=[spec.path])

    def load(db_session, user, ref: str):
        spec.access.check(user, Action.update, noun=spec.noun)
        obj = records.get(db_session=db_session, spec=spec, ref=ref)
        spec.access.check(user, Action.update, obj, noun=spec.noun)
        return obj

    @sub.post(
        "/{ref}/suggestions/{field}/accept",
        response_model=spec.read_schema,
        summary=f"Accept the suggested value of a {spec.noun} field (agents)",
    )
    def accept(
        ref: str,
        field: str,
        db_session: DbSession,
        user: StaffUser,
        body: Annotated[AcceptBody | None, Body()] = None,
    ):
        obj = load(db_session, user, ref)
        obj = feedback.give_feedback(
            db_session=db_session,
            spec=spec,
            obj=obj,
            field_name=field,
            action=FeedbackAction.accepted,
            user=user,
            version=body.version if body else None,
        )
        return records.serialize(spec, obj)

    @sub.post(
        "/{ref}/suggestions/{field}/override",
        response_model=spec.read_schema,
        summary=f"Set a {spec.noun} field to another value than the suggestion (agents)",
    )
    def override(
        ref: str, field: str, body: Annotated[OverrideBody, Body()], db_session: DbSession, user: StaffUser
    ):
        obj = load(db_session, user, ref)
        obj = feedback.give_feedback(
            db_session=db_session,
            spec=spec,
            obj=obj,
            field_name=field,
            action=FeedbackAction.overridden,
            user=user,
            value=body.value,
            version=body.version,
        )
        return records.serialize(spec, obj)

    return sub


def _ticket_feedback_router() -> APIRouter:
    from itsm_ai.ticket.service import TICKET_SPECS

    combined = APIRouter()
    for spec in TICKET_SPECS.values():
        combined.include_router(_feedback_routes(spec))
    return combined


router.include_router(_ticket_feedback_router())


# ------------------------------------------------------------------------------------------ free-text triage


def _triage(body: TriageRequest, db_session) -> dict[str, Any]:
    text = body.text.strip() if body.text and body.text.strip() else ""
    if not text:
        text = ticket_text(body.short_description, body.description)
    return {"fields": suggest_for_text(db_session=db_session, text=text)}


@router.get("/triage", tags=["triage"], summary="Suggestions for free text (no ticket is created)")
def triage_get(
    db_session: DbSession,
    user: ReaderUser,
    text: Annotated[str | None, Query(max_length=10_000)] = None,
    short_description: Annotated[str | None, Query(max_length=1000)] = None,
    description: Annotated[str | None, Query(max_length=10_000)] = None,
) -> dict[str, Any]:
    from pydantic import ValidationError

    try:
        body = TriageRequest(text=text, short_description=short_description, description=description)
    except ValidationError as exc:
        raise InvalidInputError(
            "text: give text, or short_description and/or description", field="text"
        ) from exc
    return _triage(body, db_session)


@router.post("/triage", tags=["triage"], summary="Suggestions for free text (no ticket is created)")
def triage_post(body: TriageRequest, db_session: DbSession, user: ReaderUser) -> dict[str, Any]:
    return _triage(body, db_session)


# ------------------------------------------------------------------------------------------ models


@router.get("/models", tags=["models"], summary="Models in the registry: versions, CURRENT, challenger")
def models_list(user: DataUser) -> dict[str, Any]:
    return {"items": model_catalog.list_models()}


@router.post(
    "/models/train",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrainingJobRead,
    tags=["models"],
    summary="Train a new version from the tickets in the store (background job)",
)
def models_train(body: TrainBody, db_session: DbSession, user: DataUser):
    params = body.model_dump(exclude_none=True)
    params["created_by"] = user.username
    job_id = jobs.start_training_job(params=params, user=user)
    return jobs.get_job(db_session=db_session, job_id=job_id)


@router.get(
    "/models/jobs", response_model=list[TrainingJobRead], tags=["models"], summary="Recent training jobs"
)
def models_jobs(db_session: DbSession, user: DataUser, limit: Annotated[int, Query(ge=1, le=200)] = 20):
    return jobs.list_jobs(db_session=db_session, limit=limit)


@router.get(
    "/models/jobs/{job_id}", response_model=TrainingJobRead, tags=["models"], summary="A training job"
)
def models_job(job_id: RowId, db_session: DbSession, user: DataUser):
    return jobs.get_job(db_session=db_session, job_id=job_id)


@router.get("/models/{name}", tags=["models"], summary="A model's versions, CURRENT and challenger")
def models_get(name: str, user: DataUser) -> dict[str, Any]:
    return model_catalog.get_model(name)


@router.get(
    "/models/{name}/versions/{version}",
    tags=["models"],
    summary="Metadata of one version, with its evaluation report",
)
def models_version(name: str, version: str, user: DataUser) -> dict[str, Any]:
    return model_catalog.get_version(name, version)


@router.post("/models/{name}/promote", tags=["models"], summary="Make a version CURRENT")
def models_promote(name: str, body: PromoteBody, user: DataUser) -> dict[str, Any]:
    return model_catalog.promote(name, body.version)


@router.post("/models/{name}/rollback", tags=["models"], summary="Return CURRENT to the previous version")
def models_rollback(name: str, user: DataUser) -> dict[str, Any]:
    return model_catalog.rollback(name)


@router.put(
    "/models/{name}/challenger",
    tags=["models"],
    summary="Run a version in shadow beside CURRENT (null stops it)",
)
def models_challenger(name: str, body: ChallengerBody, user: DataUser) -> dict[str, Any]:
    return model_catalog.set_challenger(name, body.version)


@router.get(
    "/models/{name}/shadow-report",
    tags=["models"],
    summary="Live precision and coverage of CURRENT vs the challenger on reviewed tickets",
)
def models_shadow_report(name: str, db_session: DbSession, user: DataUser) -> dict[str, Any]:
    with model_catalog.existing_model(name):
        return shadow.shadow_report(db_session=db_session, name=name)
