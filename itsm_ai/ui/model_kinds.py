"""What kind of model a registry entry is, and the held-out measures its own metadata records.

The registry keeps models of different kinds side by side (triage classifiers, the prediction models, the
chat intent detector, the retrieval encoder); each records different figures in its `metadata.json`, so
the console shows each kind with its own columns instead of the triage ones ("Classes 0", n/a).
Pure: dicts in, dicts out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TRIAGE, PREDICTION, INTENTS, ENCODER = "triage", "prediction", "intents", "encoder"
PREDICTION_NAMES = ("sla_breach", "time_to_resolve", "volume_anomaly")
# The order and headings of the groups on the models page.
KINDS = (
    (TRIAGE, "Triage models", "Suggest a ticket's category, priority and group; scores on held-out tickets."),
    (
        PREDICTION,
        "Prediction models",
        "SLA breach risk and time to resolve, each against a simple baseline on held-out "
        "incidents, and ticket volume anomalies; trained on the ServiceNow incident event log.",
    ),
    (INTENTS, "Chat intent detector", "Reads what a portal chat user wants; scored on held-out utterances."),
    (
        ENCODER,
        "Retrieval encoder",
        "The sentence encoder behind similar tickets, duplicates and answers; "
        "recall of held-out duplicate pairs.",
    ),
)
# Kinds whose challenger something runs in shadow: triage (classify.serving.shadow), the breach and
# time-to-resolve predictions (predictions.shadow) and the encoder (its own shadow report).
SHADOW_NAMES = ("sla_breach", "time_to_resolve")


def model_kind(name: str, meta: dict[str, Any] | None) -> str:
    """The kind of a model: by the class its metadata names, else by its registry name."""
    model_class = str((meta or {}).get("model_class") or "")
    if model_class.startswith("itsm_ai.predictions.") or name in PREDICTION_NAMES:
        return PREDICTION
    if model_class.startswith("itsm_ai.chat.") or name == "chat_intents":
        return INTENTS
    if model_class.startswith("itsm_ai.encoder.") or name == "encoder":
        return ENCODER
    return TRIAGE


def runs_shadow(name: str, kind: str) -> bool:
    """Whether a challenger of this model is run beside CURRENT (else a Shadow button would do nothing)."""
    return kind in (TRIAGE, ENCODER) or name in SHADOW_NAMES


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def _num(digits: int) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        return "—" if value is None else f"{float(value):,.{digits}f}"

    return fmt


def _hours(value: Any) -> str:
    return "—" if value is None else f"{float(value):,.1f} h"


def _signed_pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:+.1f}%"


def _count(value: Any) -> str:
    if value is None:
        return "—"
    return str(len(value)) if isinstance(value, list | tuple | dict) else f"{int(value):,}"


def _get(meta: dict[str, Any], path: str) -> Any:
    node: Any = meta
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


# (heading, where in metadata.json, format) per kind; the breach, time and volume models differ.
_Column = tuple[str, str, Callable[[Any], str]]
COLUMNS: dict[str, tuple[_Column, ...]] = {
    TRIAGE: (
        ("Features", "params.features", lambda v: "—" if v is None else str(v)),
        ("Classes", "classes", _count),
        ("Held-out accuracy", "evaluation.accuracy", _pct),
        ("Macro F1", "evaluation.macro_f1", _pct),
        ("Coverage", "evaluation.coverage", _pct),
    ),
    "sla_breach": (
        ("AUC", "evaluation.auc", _num(3)),
        ("AUC, priority-only baseline", "evaluation.baseline_auc", _num(3)),
        ("Brier score", "evaluation.brier", _num(3)),
        ("Brier, priority-only baseline", "evaluation.baseline_brier", _num(3)),
        ("Breach rate (test)", "evaluation.breach_rate_test", _pct),
        ("Incidents", "data.incidents", _count),
    ),
    "time_to_resolve": (
        ("MAE", "evaluation.mae_hours", _hours),
        ("MAE, median-per-priority baseline", "evaluation.baseline_mae_hours", _hours),
        ("MAE change", "evaluation.mae_change", _signed_pct),
        ("Median error", "evaluation.median_ae_hours", _hours),
        ("10–90% interval coverage", "evaluation.interval_coverage", _pct),
        ("Test incidents", "evaluation.n_test", _count),
    ),
    "volume_anomaly": (
        ("Series (group and category)", "keys", _count),
        ("History", "span_hours", lambda v: "—" if v is None else f"{float(v) / 24:,.0f} days"),
        ("Window", "params.window_hours", _hours),
        ("Anomaly p-value", "params.alpha", lambda v: "—" if v is None else f"{float(v):g}"),
        ("Minimum count", "params.min_count", _count),
        ("Incidents", "data.incidents", _count),
    ),
    INTENTS: (
        ("Intents", "classes", _count),
        ("Intent accuracy (held out)", "validation.classifier_accuracy", _pct),
        ("Out-of-scope refused", "validation.scope.out_of_scope_refused", _pct),
        ("In-scope refused", "validation.scope.in_scope_refused", _pct),
        ("In-scope asked back", "validation.scope.in_scope_asked", _pct),
        ("Training examples", "n_examples", _count),
    ),
    ENCODER: (
        ("Held-out pairs", "evaluation.holdout.pairs", _count),
        ("Recall@1 stock", "evaluation.holdout.base.recall@1", _pct),
        ("Recall@1 tuned", "evaluation.holdout.tuned.recall@1", _pct),
        ("Recall@5 stock", "evaluation.holdout.base.recall@5", _pct),
        ("Recall@5 tuned", "evaluation.holdout.tuned.recall@5", _pct),
    ),
}
# The intent detector's first versions recorded their scope figures flat in `validation`.
_FALLBACKS = {
    "validation.scope.out_of_scope_refused": "validation.out_of_scope_recall",
}


def columns(name: str, kind: str) -> tuple[_Column, ...]:
    """The measure columns of a model: its own (prediction models differ by name), else its kind's."""
    return COLUMNS.get(name) or COLUMNS.get(kind) or ()


def headings(name: str, kind: str) -> list[str]:
    """The measure column headings of a model."""
    return [heading for heading, _, _ in columns(name, kind)]


def measures(name: str, kind: str, meta: dict[str, Any] | None) -> list[dict[str, str]]:
    """A version's measures as (heading, formatted value) from its metadata; "—" where it records none."""
    meta = meta or {}
    out = []
    for heading, path, fmt in columns(name, kind):
        value = _get(meta, path)
        if value is None and path in _FALLBACKS:
            value = _get(meta, _FALLBACKS[path])
        out.append({"label": heading, "value": fmt(value)})
    return out
