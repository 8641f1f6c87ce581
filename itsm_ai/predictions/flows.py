"""Keeping predictions current: the engine listener, the refresh sweep, and volume alerts on new tickets.

- `on_record_event` (an engine listener, before the rules) recomputes an incident's breach risk and time to
  resolve on every create and update, mirrors them into the ticket's `suggestions["predictions"]` (so the
  ticket API and rule conditions see them: `breach_risk > 0.8`), and on create checks the arrival rate of
  its category and CI. It runs in a savepoint: a failing prediction is logged and never costs the write.
- A challenger set in the registry (`PUT /models/{name}/challenger`) is scored beside CURRENT on each
  incident's first prediction after it was set (`suggestions["predictions"]["shadow"]`), and
  `shadow.report` compares both once the incidents end.
- `refresh_job` (a worker job) recomputes open incidents whose predictions have aged, since the risk rises
  with the time a ticket sits without an event.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from itsm_ai.database import get_session, utcnow
from itsm_ai.predictions import service, shadow
from itsm_ai.predictions.enums import AlertStatus, Dimension, ModelName
from itsm_ai.predictions.models import TicketPrediction, VolumeAlert
from itsm_ai.records.events import RecordEvent
from itsm_ai.ticket.models import Incident

log = logging.getLogger(__name__)

REFRESH_AFTER = timedelta(minutes=15)
REFRESH_BATCH = 200


def _mirror(db_session: Session, obj: Incident, values: dict[str, Any]) -> None:
    """Write the predictions into the ticket's suggestions without a version bump or an update event."""
    current = dict((obj.suggestions or {}).get("predictions") or {})
    merged = {**current, **values}
    if merged == current:
        return
    suggestions = {**(obj.suggestions or {}), "predictions": merged}
    table = Incident.__table__
    # Not an edit of the ticket: its version and updated_at stay, so no agent's save is refused for it.
    db_session.execute(
        table.update()
        .where(table.c.id == obj.id)
        .values(suggestions=suggestions, updated_at=obj.updated_at, version=obj.version)
    )
    set_committed_value(obj, "suggestions", suggestions)


def refresh(*, db_session: Session, obj: Incident, at: datetime | None = None) -> TicketPrediction | None:
    """Recompute one incident's predictions and mirror them on the ticket."""
    row = service.predict(db_session=db_session, obj=obj, at=at)
    summary = service.summary(row)
    if summary is not None:
        recorded = ((obj.suggestions or {}).get("predictions") or {}).get("shadow") or {}
        scored = shadow.score(db_session=db_session, obj=obj, at=at, skip=recorded)
        if scored:
            summary = {**summary, "shadow": {**recorded, **scored}}
        _mirror(db_session, obj, summary)
    elif (obj.suggestions or {}).get("predictions"):
        _mirror(db_session, obj, {"breach_risk": None, "likely_to_breach": False, "ttr_hours": None})
    return row


def check_volume(*, db_session: Session, obj: Incident) -> list[VolumeAlert]:
    """Raise (or extend) a volume alert when the incident's category or CI arrives far above its rate."""
    loaded = service.served(ModelName.volume)
    if loaded is None:
        return []
    model = loaded.model
    window = timedelta(hours=model.window_hours)
    raised = []
    for dimension in Dimension:
        key = service.dimension_key(obj, dimension)
        if not key:
            continue
        start = obj.opened_at - window
        burst = service.arrivals(
            db_session=db_session, dimension=dimension, key=key, start=start, end=obj.opened_at
        )
        if obj not in burst:
            burst.append(obj)
        score = model.score(f"{key}", obj.opened_at.timestamp(), len(burst))
        if not score["anomaly"]:
            continue
        tickets = [{"record_type": "incident", "id": t.id, "number": t.number} for t in burst]
        alert = service.open_alert(db_session=db_session, dimension=dimension, key=key, since=start)
        if alert is None:
            alert = VolumeAlert(
                dimension=str(dimension),
                key=key,
                status=str(AlertStatus.open),
                window_start=burst[0].opened_at,
                window_end=obj.opened_at,
                observed=len(burst),
                expected=round(score["expected"], 4),
                p_value=score["p_value"],
                tickets=tickets,
                model_version=loaded.version,
            )
            db_session.add(alert)
        else:
            known = {t["id"] for t in alert.tickets}
            alert.tickets = [*alert.tickets, *(t for t in tickets if t["id"] not in known)]
            alert.observed = len(alert.tickets)
            alert.window_end = max(alert.window_end, obj.opened_at)
            alert.p_value = min(alert.p_value, score["p_value"])
        db_session.flush()
        raised.append(alert)
    if raised:
        _mirror(db_session, obj, {"volume_alert": raised[0].id, "volume_alert_key": raised[0].key})
    return raised


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Engine listener: predictions of incidents on create and update; forget them on delete."""
    if event.record_type != "incident" or not isinstance(event.record, Incident):
        return
    obj = event.record
    try:
        with db_session.begin_nested():
            if event.kind == "deleted":
                service.delete_for(db_session=db_session, record_id=obj.id)
                return
            if event.kind not in ("created", "updated"):
                return
            refresh(db_session=db_session, obj=obj)
            if event.kind == "created":
                check_volume(db_session=db_session, obj=obj)
    except Exception:  # noqa: BLE001 - a prediction must never cost the user's write
        log.exception("predictions for incident %s failed", getattr(obj, "number", obj.id))


def refresh_job(limit: int = REFRESH_BATCH) -> dict[str, int]:
    """Worker job: recompute the open incidents whose predictions are missing or older than REFRESH_AFTER."""
    if service.served(ModelName.breach) is None and service.served(ModelName.ttr) is None:
        return {"refreshed": 0}
    stale = utcnow() - REFRESH_AFTER
    with get_session() as db_session:
        incidents = db_session.scalars(
            select(Incident)
            .outerjoin(
                TicketPrediction,
                (TicketPrediction.record_type == service.RECORD_TYPE)
                & (TicketPrediction.record_id == Incident.id),
            )
            .where(
                Incident.state.in_(service.OPEN_STATES),
                or_(TicketPrediction.record_id.is_(None), TicketPrediction.computed_at < stale),
            )
            .order_by(Incident.id)
            .limit(limit)
        ).all()
        for obj in incidents:
            refresh(db_session=db_session, obj=obj)
    return {"refreshed": len(incidents)}
