"""Shadow runs of prediction models: with a challenger set, CURRENT and the challenger score each
incident once on the same snapshot, and the report compares both on the incidents that ended (breach: Brier
and AUC against the SLA verdict; time to resolve: error in hours)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.base.states import IncidentState
from itsm_ai.database import utcnow
from itsm_ai.errors import InvalidInputError
from itsm_ai.predictions import features, service
from itsm_ai.predictions.enums import ModelName
from itsm_ai.registry import store
from itsm_ai.sla.models import TicketSla
from itsm_ai.ticket.models import Incident

# The kinds a challenger can shadow, and the figure each compares.
SHADOW_VALUES = {ModelName.breach: "breach_risk", ModelName.ttr: "ttr_hours"}


def _value(name: ModelName, model: Any, frame: Any) -> float:
    if name == ModelName.breach:
        return round(float(model.predict_proba(frame)[0, 1]), 4)
    return round(float(model.predict(frame)[0]), 2)


def score(
    *, db_session: Session, obj: Incident, at: datetime | None = None, skip: Any = ()
) -> dict[str, Any]:
    """CURRENT's and the challenger's figures on the same snapshot, per kind that has a challenger.

    `skip` names kinds already recorded for the ticket: each ticket is scored once per kind, at its first
    prediction after the challenger was set, so both sides are judged on the same point of its life.
    """
    pairs = {}
    for name in SHADOW_VALUES:
        if str(name) in skip:
            continue
        champion, rival = service.served(name), service.challenger(name)
        if champion is not None and rival is not None:
            pairs[name] = (champion, rival)
    if not pairs:
        return {}
    at = at or utcnow()
    frame = features.frame([service.snapshot(db_session=db_session, obj=obj, at=at)])
    return {
        str(name): {
            "at": at.isoformat(),
            "champion": {"version": champion.version, "value": _value(name, champion.model, frame)},
            "challenger": {"version": rival.version, "value": _value(name, rival.model, frame)},
        }
        for name, (champion, rival) in pairs.items()
    }


def _outcomes(db_session: Session, incidents: list[Incident]) -> dict[int, bool]:
    """Whether each ended incident breached: its resolution clock's verdict, else the source's made_sla."""
    stages = dict(
        db_session.execute(
            select(TicketSla.record_id, TicketSla.stage).where(
                TicketSla.record_type == service.RECORD_TYPE,
                TicketSla.kind == "resolution",
                TicketSla.record_id.in_([obj.id for obj in incidents]),
            )
        ).all()
    )
    out = {}
    for obj in incidents:
        stage = stages.get(obj.id)
        made = service.log_flag((obj.extra or {}).get("made_sla"))
        if stage in ("met", "breached"):
            out[obj.id] = stage == "breached"
        elif made in ("true", "false"):
            out[obj.id] = made == "false"
    return out


def _actual_hours(obj: Incident, at: str) -> float | None:
    if obj.resolved_at is None:
        return None
    hours = (obj.resolved_at - datetime.fromisoformat(at)).total_seconds() / features.HOUR
    return max(0.0, hours)


def _side_figures(name: ModelName, actual: list[float], predicted: list[float]) -> dict[str, Any]:
    import numpy as np

    y, p = np.asarray(actual, float), np.asarray(predicted, float)
    if len(y) == 0:
        return {"tickets": 0}
    if name == ModelName.breach:
        from sklearn.metrics import roc_auc_score

        return {
            "tickets": len(y),
            "mean_risk": float(p.mean()),
            "breach_rate": float(y.mean()),
            "brier": float(np.mean((p - y) ** 2)),
            # AUC needs breached and met tickets both.
            "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None,
        }
    errors = np.abs(p - y)
    return {"tickets": len(y), "mae_hours": float(errors.mean()), "median_ae_hours": float(np.median(errors))}


def report(*, db_session: Session, name: ModelName, limit: int = 20_000) -> dict[str, Any]:
    """CURRENT vs the challenger on ended incidents both scored: Brier and AUC of the breach risk against
    the SLA verdict, or the absolute error of the time to resolve against the actual hours."""
    if name not in SHADOW_VALUES:
        raise InvalidInputError(
            f"name: shadow runs compare {', '.join(map(str, SHADOW_VALUES))}, not {name}", field="name"
        )
    ended = (str(IncidentState.resolved), str(IncidentState.closed))
    incidents = list(
        db_session.scalars(
            select(Incident)
            .where(Incident.state.in_(ended), Incident.suggestions.isnot(None))
            .order_by(Incident.id.desc())
            .limit(limit)
        )
    )
    scored = []
    for obj in incidents:
        entry = (((obj.suggestions or {}).get("predictions") or {}).get("shadow") or {}).get(str(name))
        if isinstance(entry, dict) and entry.get("champion") and entry.get("challenger"):
            scored.append((obj, entry))
    outcomes = _outcomes(db_session, [obj for obj, _ in scored]) if name == ModelName.breach else {}
    actual: list[float] = []
    sides: dict[str, list[float]] = {"champion": [], "challenger": []}
    versions: dict[str, dict[str, int]] = {"champion": {}, "challenger": {}}
    for obj, entry in scored:
        truth = outcomes.get(obj.id) if name == ModelName.breach else _actual_hours(obj, entry["at"])
        if truth is None:
            continue
        actual.append(float(truth))
        for side in sides:
            sides[side].append(float(entry[side]["value"]))
            version = str(entry[side]["version"])
            versions[side][version] = versions[side].get(version, 0) + 1
    out: dict[str, Any] = {"name": str(name), "current_version": None, "challenger_version": None}
    try:
        out["current_version"] = store.current_version(str(name))
        out["challenger_version"] = store.get_challenger(str(name))
    except store.RegistryError:
        pass
    for side, predicted in sides.items():
        out[side] = {"versions": versions[side], **_side_figures(name, actual, predicted)}
    return out
