"""Encoder endpoints for data scientists: train, versions, promote (blue/green), rollback, challenger, report.

Included before triage's router, so these paths win over the generic ``/models/{name}/...`` ones.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from itsm_ai.auth.dependencies import DataUser
from itsm_ai.classify.models import TrainingJobRead
from itsm_ai.classify.training.jobs import get_job
from itsm_ai.database import DbSession
from itsm_ai.encoder import jobs, service
from itsm_ai.encoder.models import EncoderChallengerBody, EncoderTrainBody, EncoderVersionBody

router = APIRouter(prefix="/models/encoder", tags=["models"])


@router.get("", summary="Encoder versions: CURRENT (none: the stock model), challenger, evaluations")
def encoder_versions(user: DataUser) -> dict[str, Any]:
    items = service.versions()
    current = next((v["version"] for v in items if v["current"]), None)
    return {"name": "encoder", "current": current, "versions": items}


@router.post(
    "/train",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrainingJobRead,
    summary="Train a new encoder version on the desk's confirmed pairs (background job)",
)
def encoder_train(body: EncoderTrainBody, db_session: DbSession, user: DataUser):
    params = {**body.model_dump(exclude_none=True), "action": "train", "created_by": user.username}
    job_id = jobs.start_encoder_job(params=params, user=user)
    return get_job(db_session=db_session, job_id=job_id)


@router.post(
    "/promote",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrainingJobRead,
    summary="Build the version's index beside the live one, then switch every process to it (job)",
)
def encoder_promote(body: EncoderVersionBody, db_session: DbSession, user: DataUser):
    service.check_known(body.version)
    params = {"action": "promote", "version": body.version, "created_by": user.username}
    job_id = jobs.start_encoder_job(params=params, user=user)
    return get_job(db_session=db_session, job_id=job_id)


@router.post("/rollback", summary="Switch back to the encoder promoted before (its index was kept)")
def encoder_rollback(db_session: DbSession, user: DataUser) -> dict[str, Any]:
    return service.rollback(db_session=db_session)


@router.put("/challenger", summary="The version the shadow report compares with CURRENT (null stops)")
def encoder_challenger(body: EncoderChallengerBody, user: DataUser) -> dict[str, Any]:
    return service.set_challenger(body.version)


@router.get(
    "/shadow-report",
    summary="recall@k of CURRENT and the challenger on recent confirmed pairs neither trained on",
)
def encoder_shadow_report(db_session: DbSession, user: DataUser) -> dict[str, Any]:
    return service.shadow_report(db_session=db_session)
