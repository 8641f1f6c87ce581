"""Prediction endpoints: a ticket's risk and time to resolve, the at-risk list, and volume alerts.

Agents and admins read and refresh predictions and acknowledge alerts; data scientists read them and the
shadow reports (champion vs challenger; set them with the registry's `/models/{name}/...` endpoints);
requesters get 403 (a breach risk is the desk's view of its own work, not the caller's).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from itsm_ai.auth.dependencies import DataUser, ReaderUser, StaffUser
from itsm_ai.database import DbSession
from itsm_ai.predictions import flows, service, shadow
from itsm_ai.predictions.enums import AlertStatus, ModelName
from itsm_ai.predictions.models import AlertRead, AlertUpdate, PredictionRead, TicketPrediction

router = APIRouter(prefix="/predictions", tags=["predictions"])

Number = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]


def _read(number: str, row: TicketPrediction | None) -> dict[str, Any]:
    summary = service.summary(row) or {
        "breach_risk": None,
        "likely_to_breach": False,
        "reasons": [],
        "ttr_hours": None,
        "ttr_low_hours": None,
        "ttr_high_hours": None,
        "breach_version": None,
        "ttr_version": None,
        "computed_at": None,
    }
    return {"record_type": service.RECORD_TYPE, "number": number, **summary}


@router.get("/incidents/{number}", response_model=PredictionRead, summary="An incident's predictions")
def read_prediction(number: Number, db_session: DbSession, user: ReaderUser) -> dict[str, Any]:
    """Breach risk with its top reasons, and the time to resolve with its interval (null until computed)."""
    obj = service.incident(db_session=db_session, number=number)
    return _read(obj.number, service.get(db_session=db_session, record_id=obj.id))


@router.post(
    "/incidents/{number}/refresh",
    response_model=PredictionRead,
    summary="Recompute an incident's predictions",
)
def refresh_prediction(number: Number, db_session: DbSession, user: StaffUser) -> dict[str, Any]:
    """Recompute now from the CURRENT models (no-op fields stay null when no model is promoted)."""
    obj = service.incident(db_session=db_session, number=number)
    row = flows.refresh(db_session=db_session, obj=obj)
    return _read(obj.number, row)


@router.get("/at-risk", summary="Open incidents likely to breach, riskiest first")
def at_risk(
    db_session: DbSession,
    user: ReaderUser,
    threshold: Annotated[float, Query(ge=0.0, le=1.0)] = service.LIKELY_TO_BREACH,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Items with the ticket's number, title, state, priority, risk, reasons and time to resolve."""
    rows = service.at_risk(db_session=db_session, threshold=threshold, limit=limit)
    return {
        "items": [
            {
                "number": obj.number,
                "short_description": obj.short_description,
                "state": obj.state,
                "priority": obj.priority,
                **(service.summary(row) or {}),
            }
            for row, obj in rows
        ]
    }


@router.get("/alerts", summary="Volume alerts, newest first")
def list_alerts(
    db_session: DbSession,
    user: ReaderUser,
    status: AlertStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Alerts with the tickets each links."""
    alerts = service.list_alerts(db_session=db_session, status=status, limit=limit)
    return {"items": [AlertRead.model_validate(a, from_attributes=True).model_dump() for a in alerts]}


@router.get("/alerts/{alert_id}", response_model=AlertRead, summary="One volume alert")
def read_alert(alert_id: Annotated[int, Path(ge=1)], db_session: DbSession, user: ReaderUser) -> Any:
    """The alert and the tickets of its burst."""
    return service.get_alert(db_session=db_session, alert_id=alert_id)


@router.patch("/alerts/{alert_id}", response_model=AlertRead, summary="Acknowledge or close a volume alert")
def update_alert(
    alert_id: Annotated[int, Path(ge=1)], body: AlertUpdate, db_session: DbSession, user: StaffUser
) -> Any:
    """Set the status (acknowledged or closed); a stale `version` is 409."""
    alert = service.get_alert(db_session=db_session, alert_id=alert_id)
    return service.set_alert_status(
        db_session=db_session, alert=alert, status=body.status, version=body.version, actor_id=user.id
    )


@router.get(
    "/models/{name}/shadow-report",
    summary="CURRENT vs the challenger on ended incidents both scored (breach risk or time to resolve)",
)
def shadow_report(
    name: ModelName,
    db_session: DbSession,
    user: DataUser,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 20_000,
) -> dict[str, Any]:
    """Per side: its versions, tickets, and Brier/AUC (sla_breach) or MAE hours (time_to_resolve)."""
    return shadow.report(db_session=db_session, name=name, limit=limit)
