"""Predictions of stored tickets: their snapshots, the served models, the stored results and the alerts.

A snapshot of a stored incident holds what `features` describes, read from the ticket, its state history
and counts over other incidents at the prediction time; the models come from the registry (CURRENT of
`sla_breach`, `time_to_resolve`, `volume_anomaly`) through one cache, so a promotion or rollback is served
on the next prediction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.predictions import features
from itsm_ai.predictions.enums import AlertStatus, Dimension, ModelName
from itsm_ai.predictions.estimators import BreachRiskClassifier, SeasonalRateModel, TimeToResolveRegressor
from itsm_ai.predictions.models import TicketPrediction, VolumeAlert
from itsm_ai.registry import store
from itsm_ai.registry.cache import LoadedModel, ModelCache, ModelUnavailable
from itsm_ai.sla.models import TicketStateHistory
from itsm_ai.ticket.models import Incident

log = logging.getLogger(__name__)

RECORD_TYPE = "incident"
LIKELY_TO_BREACH = 0.5
OPEN_STATES = tuple(str(s) for s in features.OPEN_STATES)
_KINDS = {
    ModelName.breach: BreachRiskClassifier,
    ModelName.ttr: TimeToResolveRegressor,
    ModelName.volume: SeasonalRateModel,
}


def _validate(name: str, version: str, model: Any) -> str | None:
    kind = _KINDS.get(ModelName(name)) if name in set(ModelName) else None
    if kind is not None and not isinstance(model, kind):
        return f"{name} {version} is a {type(model).__name__}, not a {kind.__name__}"
    return None


MODELS = ModelCache(validate=_validate)


def served(name: ModelName) -> LoadedModel | None:
    """The CURRENT model of a kind, or None when none is trained, promoted and usable."""
    try:
        return MODELS.get(str(name))
    except ModelUnavailable as exc:
        log.debug("%s not served: %s", name, exc.reason)
        return None


def challenger(name: ModelName) -> LoadedModel | None:
    """The version of a kind run in shadow beside CURRENT (registry CHALLENGER), or None."""
    try:
        version = store.get_challenger(str(name))
    except store.RegistryError:
        return None
    if version is None:
        return None
    try:
        return MODELS.get(str(name), version)
    except ModelUnavailable as exc:
        log.debug("%s challenger %s not served: %s", name, version, exc.reason)
        return None


def _ci(obj: Incident) -> str | None:
    extra = obj.extra or {}
    if extra.get("cmdb_ci"):
        return str(extra["cmdb_ci"])
    items = getattr(obj, "configuration_items_ref", None) or []
    return items[0].name if items else None


def log_flag(value: Any) -> str | None:
    """A flag as the event log spells it ("true"/"false"), whether the import stored a bool or text."""
    return None if value is None else str(value).lower()


def _count(db_session: Session, *where) -> int:
    return int(db_session.scalar(select(func.count(Incident.id)).where(*where)) or 0)


def snapshot(*, db_session: Session, obj: Incident, at: datetime | None = None) -> dict[str, Any]:
    """What the models see of a stored incident at `at` (now by default)."""
    at = at or utcnow()
    extra = obj.extra or {}
    group = obj.assignment_group_ref.name if obj.assignment_group_ref is not None else None
    row: dict[str, Any] = {
        "priority": obj.priority,
        "impact": obj.impact,
        "urgency": obj.urgency,
        "category": obj.category,
        "subcategory": obj.subcategory,
        "symptom": extra.get("u_symptom"),
        "ci": _ci(obj),
        "contact_type": extra.get("contact_type"),
        "location": obj.location,
        "group": group,
        "state": obj.state,
        "opened_by": extra.get("opened_by"),
        "knowledge": log_flag(extra.get("knowledge")),
        "priority_confirmation": log_flag(extra.get("u_priority_confirmation")),
        "reassignment_count": obj.reassignment_count,
        "reopen_count": obj.reopen_count,
        "updates": obj.version,
        "assigned": float(obj.assigned_to_id is not None),
        "elapsed_hours": max(0.0, (at - obj.opened_at).total_seconds() / features.HOUR),
    }
    history = db_session.execute(
        select(TicketStateHistory.state, TicketStateHistory.at)
        .where(TicketStateHistory.record_type == RECORD_TYPE, TicketStateHistory.record_id == obj.id)
        .order_by(TicketStateHistory.id)
    ).all()
    entries = [(state, when.timestamp()) for state, when in history] or [
        (obj.state, obj.opened_at.timestamp())
    ]
    row.update(features.state_hours(entries, at.timestamp()))
    row.update(features.calendar_features(obj.opened_at))
    is_open = (Incident.state.in_(OPEN_STATES), Incident.opened_at <= at)
    day_before = at - timedelta(seconds=features.ARRIVAL_WINDOW)
    row["backlog"] = _count(db_session, *is_open)
    row["group_backlog"] = (
        _count(db_session, *is_open, Incident.assignment_group_id == obj.assignment_group_id)
        if obj.assignment_group_id is not None
        else 0
    )
    recent = (Incident.opened_at > day_before, Incident.opened_at <= at)
    row["category_arrivals_24h"] = (
        _count(db_session, *recent, Incident.category == obj.category) if obj.category else 0
    )
    ci = row["ci"]
    row["ci_arrivals_24h"] = (
        _count(db_session, *recent, Incident.extra["cmdb_ci"].as_string() == ci)
        if extra.get("cmdb_ci")
        else 0
    )
    row["caller_recent"] = (
        _count(
            db_session,
            Incident.caller_id == obj.caller_id,
            Incident.opened_at > at - timedelta(seconds=features.CALLER_WINDOW),
            Incident.opened_at <= at,
        )
        if obj.caller_id is not None
        else 0
    )
    return row


def predict(*, db_session: Session, obj: Incident, at: datetime | None = None) -> TicketPrediction | None:
    """Recompute and store an open incident's predictions (drop them once it is no longer open)."""
    existing = db_session.get(TicketPrediction, (RECORD_TYPE, obj.id))
    if obj.state not in OPEN_STATES:
        if existing is not None:
            db_session.delete(existing)
        return None
    breach, ttr = served(ModelName.breach), served(ModelName.ttr)
    if breach is None and ttr is None:
        return existing
    frame = features.frame([snapshot(db_session=db_session, obj=obj, at=at)])
    values: dict[str, Any] = {"computed_at": utcnow()}
    if breach is not None:
        values["breach_risk"] = round(float(breach.model.predict_proba(frame)[0, 1]), 4)
        values["reasons"] = breach.model.explain(frame, top=3)[0]
        values["breach_version"] = breach.version
    if ttr is not None:
        low, mid, high = (round(float(v), 2) for v in ttr.model.predict_quantiles(frame)[0])
        values.update(ttr_hours=mid, ttr_low_hours=low, ttr_high_hours=high, ttr_version=ttr.version)
    return _upsert(db_session, obj.id, values)


def _upsert(db_session: Session, record_id: int, values: dict[str, Any]) -> TicketPrediction:
    table = TicketPrediction.__table__
    if db_session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    stmt = upsert(table).values(record_type=RECORD_TYPE, record_id=record_id, **values)
    # Two writers predicting the same ticket at once: the later one wins, neither fails.
    stmt = stmt.on_conflict_do_update(index_elements=["record_type", "record_id"], set_=values)
    db_session.execute(stmt)
    row = db_session.get(TicketPrediction, (RECORD_TYPE, record_id), populate_existing=True)
    assert row is not None
    return row


def get(*, db_session: Session, record_id: int) -> TicketPrediction | None:
    """The stored predictions of an incident, if any."""
    return db_session.get(TicketPrediction, (RECORD_TYPE, record_id))


def delete_for(*, db_session: Session, record_id: int) -> None:
    """Forget a deleted incident's predictions."""
    row = get(db_session=db_session, record_id=record_id)
    if row is not None:
        db_session.delete(row)


def summary(row: TicketPrediction | None) -> dict[str, Any] | None:
    """What a ticket shows of its predictions (and rules read): risk, reasons, time to resolve."""
    if row is None:
        return None
    return {
        "breach_risk": row.breach_risk,
        "likely_to_breach": row.breach_risk is not None and row.breach_risk >= LIKELY_TO_BREACH,
        "reasons": row.reasons or [],
        "ttr_hours": row.ttr_hours,
        "ttr_low_hours": row.ttr_low_hours,
        "ttr_high_hours": row.ttr_high_hours,
        "breach_version": row.breach_version,
        "ttr_version": row.ttr_version,
        "computed_at": row.computed_at.isoformat() if row.computed_at else None,
    }


def at_risk(*, db_session: Session, threshold: float, limit: int) -> list[tuple[TicketPrediction, Incident]]:
    """Open incidents whose breach risk is at least `threshold`, riskiest first."""
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInputError("threshold: must be between 0 and 1", field="threshold")
    rows = db_session.execute(
        select(TicketPrediction, Incident)
        .join(Incident, Incident.id == TicketPrediction.record_id)
        .where(
            TicketPrediction.record_type == RECORD_TYPE,
            TicketPrediction.breach_risk >= threshold,
            Incident.state.in_(OPEN_STATES),
        )
        .order_by(TicketPrediction.breach_risk.desc(), Incident.id)
        .limit(limit)
    ).all()
    return [(p, i) for p, i in rows]


def risks_for(*, db_session: Session, ids: list[int]) -> dict[int, TicketPrediction]:
    """Stored predictions of these incidents by id (a queue page at once)."""
    if not ids:
        return {}
    rows = db_session.scalars(
        select(TicketPrediction).where(
            TicketPrediction.record_type == RECORD_TYPE, TicketPrediction.record_id.in_(ids)
        )
    )
    return {row.record_id: row for row in rows}


# ------------------------------------------------------------------------------------------ volume alerts


def dimension_key(obj: Incident, dimension: Dimension) -> str | None:
    """The category or CI an incident's arrival counts toward."""
    return obj.category if dimension == Dimension.category else _ci(obj)


def arrivals(
    *, db_session: Session, dimension: Dimension, key: str, start: datetime, end: datetime
) -> list[Incident]:
    """Incidents of a category or CI opened in (start, end], oldest first."""
    where = [Incident.opened_at > start, Incident.opened_at <= end]
    if dimension == Dimension.category:
        where.append(Incident.category == key)
    else:
        where.append(Incident.extra["cmdb_ci"].as_string() == key)
    return list(db_session.scalars(select(Incident).where(*where).order_by(Incident.opened_at, Incident.id)))


def open_alert(*, db_session: Session, dimension: Dimension, key: str, since: datetime) -> VolumeAlert | None:
    """The alert of a key still open (or acknowledged) whose window ended after `since`."""
    return db_session.scalars(
        select(VolumeAlert)
        .where(
            VolumeAlert.dimension == str(dimension),
            VolumeAlert.key == key,
            VolumeAlert.status != str(AlertStatus.closed),
            VolumeAlert.window_end >= since,
        )
        .order_by(VolumeAlert.id.desc())
        .limit(1)
    ).first()


def list_alerts(*, db_session: Session, status: AlertStatus | None, limit: int) -> list[VolumeAlert]:
    """Volume alerts, newest first."""
    query = select(VolumeAlert).order_by(VolumeAlert.id.desc()).limit(limit)
    if status is not None:
        query = query.where(VolumeAlert.status == str(status))
    return list(db_session.scalars(query))


def get_alert(*, db_session: Session, alert_id: int) -> VolumeAlert:
    """One alert, or 404."""
    alert = db_session.get(VolumeAlert, alert_id)
    if alert is None:
        raise NotFoundError(f"alert {alert_id} not found")
    return alert


def set_alert_status(
    *, db_session: Session, alert: VolumeAlert, status: str, version: int, actor_id: int | None
) -> VolumeAlert:
    """Acknowledge or close an alert, refusing a stale version (409) and unknown states (422)."""
    if status not in (AlertStatus.acknowledged, AlertStatus.closed):
        raise InvalidInputError("status: must be acknowledged or closed", field="status")
    if version != alert.version:
        raise ConflictError(f"version: the alert is at version {alert.version}; reload and retry")
    alert.status = status
    alert.acknowledged_by_id = actor_id
    db_session.flush()
    return alert


def incident(*, db_session: Session, number: str) -> Incident:
    """An incident by number, or 404."""
    obj = db_session.scalars(select(Incident).where(Incident.number == number)).first()
    if obj is None:
        raise NotFoundError(f"incident {number} not found")
    return obj
