"""Champion vs challenger: what each target's challenger would suggest for a new ticket (kept beside the
displayed fields in `suggestions["shadow"]`), and how both did against the tickets' final values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.classify.enums import FieldMode, SuggestionStatus
from itsm_ai.classify.serving.suggestions import field_mode, suggest_field
from itsm_ai.classify.training.data import RESOLVED_STATES, label_value
from itsm_ai.config import Settings, get_settings
from itsm_ai.registry import store


def shadow_predictions(text: str, *, settings: Settings | None = None) -> dict[str, dict[str, Any]]:
    """What each target's challenger (if one is set) would suggest; kept out of the displayed fields."""
    settings = settings or get_settings()
    folder = store.default_dir(settings)
    out = {}
    for target in settings.triage_targets:
        try:
            challenger = store.get_challenger(target, models_dir=folder)
        except store.RegistryError:
            continue
        if challenger is None or field_mode(target, settings) == FieldMode.off:
            continue
        entry = suggest_field(target, text, folder=folder, version=challenger, k_evidence=0)
        out[target] = {
            key: entry[key] for key in ("status", "value", "confidence", "threshold", "model", "version")
        }
    return out


def _final_value(obj: Any, target: str) -> Any:
    if target == "assignment_group":
        group = getattr(obj, "assignment_group_ref", None)
        return group.name if group is not None else None
    return getattr(obj, target, None)


def shadow_report(
    *, db_session: Session, name: str, record_types: Sequence[str] | None = None, limit: int = 20_000
) -> dict[str, Any]:
    """Live precision and coverage of champion vs challenger against tickets' final field values.

    A ticket counts once its field has a final value an agent stands behind: feedback given, or the ticket
    resolved/closed. Coverage is the share of such tickets where the model made a suggestion; precision the
    share of those suggestions that equal the final value.
    """
    from itsm_ai.ticket.service import TICKET_SPECS

    record_types = list(record_types or get_settings().triage_record_types)
    sides: dict[str, Counter] = {"champion": Counter(), "challenger": Counter()}
    versions: dict[str, Counter] = {"champion": Counter(), "challenger": Counter()}
    for record_type in record_types:
        spec = TICKET_SPECS[record_type]
        model = spec.model
        stmt = select(model).where(model.suggestions.isnot(None)).order_by(model.id.desc()).limit(limit)
        for obj in db_session.scalars(stmt).unique():
            suggestions = obj.suggestions or {}
            shadow = (suggestions.get("shadow") or {}).get(name)
            champion = (suggestions.get("fields") or {}).get(name)
            if not shadow or not champion:
                continue
            if not champion.get("feedback") and obj.state not in RESOLVED_STATES:
                continue
            final = label_value(_final_value(obj, name), name)
            if final is None:
                continue
            for side, entry in (("champion", champion), ("challenger", shadow)):
                stats = sides[side]
                stats["tickets"] += 1
                if entry.get("version"):
                    versions[side][entry["version"]] += 1
                if entry.get("status") in (SuggestionStatus.suggested, SuggestionStatus.applied):
                    stats["suggested"] += 1
                    if entry.get("value") is not None and label_value(entry["value"], name) == final:
                        stats["correct"] += 1
    out: dict[str, Any] = {"name": name, "current_version": None, "challenger_version": None}
    try:
        out["current_version"] = store.current_version(name)
        out["challenger_version"] = store.get_challenger(name)
    except store.RegistryError:
        pass
    for side, stats in sides.items():
        n, suggested, correct = stats["tickets"], stats["suggested"], stats["correct"]
        out[side] = {
            "versions": dict(versions[side]),
            "tickets": n,
            "suggested": suggested,
            "coverage": suggested / n if n else None,
            "precision": correct / suggested if suggested else None,
            "correct": correct,
        }
    return out
