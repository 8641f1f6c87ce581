"""Triage endpoints: feedback on suggestions, free-text triage, the model registry for data scientists."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from itsm_ai.auth.dependencies import DataUser, ReaderUser, StaffUser
from itsm_ai.classify import catalog, feedback, jobs, registry, service, shadow
from itsm_ai.classify.enums import FeedbackAction
from itsm_ai.classify.models import (
    AcceptBody,
    ChallengerBody,
    OverrideBody,
    PromoteBody,
    TrainBody,
    TrainingJob,
    TrainingJobRead,
    TriageRequest,
)
from itsm_ai.database import DbSession
from itsm_ai.errors import AppError, ConflictError, InvalidInputError, NotFoundError
from itsm_ai.records import service as records
from itsm_ai.records.spec import Action, RecordSpec

router = APIRouter()


@contextmanager
def _existing_model(name: str) -> Iterator[None]:
    """404 unless the model has versions; registry errors inside become API errors."""
    try:
        if not registry.list_versions(name):
            raise NotFoundError(f"model {name} not found")
        yield
    except registry.RegistryError as exc:
        raise _registry_error(exc, name=name) from exc


def _registry_error(exc: registry.RegistryError, *, name: str) -> AppError:
    """Registry problems as API errors: bad names 422, missing things 404, nothing to roll back 409."""
    message = str(exc)
    if message.startswith("invalid model name"):
        return InvalidInputError(f"name: {message}", field="name")
    if message.startswith("invalid version"):
        return InvalidInputError(f"version: {message}", field="version")
    if "no previously promoted version" in message:
        return ConflictError(message, field="version")
    if "has no version" in message or "no CURRENT" in message:
        return NotFoundError(message)
    return ConflictError(f"model {name}: {message}")


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
        text = service.ticket_text(body.short_description, body.description)
    return {"fields": service.suggest_for_text(db_session=db_session, text=text)}


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
    return {"items": catalog.list_models()}


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
    return db_session.get(TrainingJob, job_id)


@router.get(
    "/models/jobs", response_model=list[TrainingJobRead], tags=["models"], summary="Recent training jobs"
)
def models_jobs(db_session: DbSession, user: DataUser, limit: Annotated[int, Query(ge=1, le=200)] = 20):
    from sqlalchemy import select

    return list(db_session.scalars(select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit)))


@router.get(
    "/models/jobs/{job_id}", response_model=TrainingJobRead, tags=["models"], summary="A training job"
)
def models_job(job_id: int, db_session: DbSession, user: DataUser):
    job = db_session.get(TrainingJob, job_id)
    if job is None:
        raise NotFoundError(f"training job {job_id} not found")
    return job


@router.get("/models/{name}", tags=["models"], summary="A model's versions, CURRENT and challenger")
def models_get(name: str, user: DataUser) -> dict[str, Any]:
    try:
        return catalog.describe_model(name)
    except registry.RegistryError as exc:
        raise _registry_error(exc, name=name) from exc


@router.get(
    "/models/{name}/versions/{version}",
    tags=["models"],
    summary="Metadata of one version, with its evaluation report",
)
def models_version(name: str, version: str, user: DataUser) -> dict[str, Any]:
    try:
        meta = registry.read_metadata(name, version)
        current = registry.current_version(name)
        challenger = catalog.get_challenger(name)
    except registry.RegistryError as exc:
        raise _registry_error(exc, name=name) from exc
    return {**meta, "current": version == current, "challenger": version == challenger}


@router.post("/models/{name}/promote", tags=["models"], summary="Make a version CURRENT")
def models_promote(name: str, body: PromoteBody, user: DataUser) -> dict[str, Any]:
    try:
        registry.promote(name, body.version)
        return catalog.describe_model(name)
    except registry.RegistryError as exc:
        raise _registry_error(exc, name=name) from exc


@router.post("/models/{name}/rollback", tags=["models"], summary="Return CURRENT to the previous version")
def models_rollback(name: str, user: DataUser) -> dict[str, Any]:
    with _existing_model(name):
        registry.rollback(name)
        return catalog.describe_model(name)


@router.put(
    "/models/{name}/challenger",
    tags=["models"],
    summary="Run a version in shadow beside CURRENT (null stops it)",
)
def models_challenger(name: str, body: ChallengerBody, user: DataUser) -> dict[str, Any]:
    with _existing_model(name):
        catalog.set_challenger(name, body.version)
        return catalog.describe_model(name)


@router.get(
    "/models/{name}/shadow-report",
    tags=["models"],
    summary="Live precision and coverage of CURRENT vs the challenger on reviewed tickets",
)
def models_shadow_report(name: str, db_session: DbSession, user: DataUser) -> dict[str, Any]:
    with _existing_model(name):
        return shadow.shadow_report(db_session=db_session, name=name)
