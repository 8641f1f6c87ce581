"""Model operations for data scientists (/console/models): train a version in the background and watch it,
compare two versions class by class with their reliability curves, promote, roll back, run a challenger
in shadow and read its shadow report. Changes go through /api/v1/models from the page's script."""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from markupsafe import Markup

from itsm_ai.database import DbSession
from itsm_ai.errors import AppError
from itsm_ai.ui import model_kinds
from itsm_ai.ui.page_auth import ModelsPageUser, PageRoute
from itsm_ai.ui.rendering import render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
COLOURS = ("#0b5cad", "#b45309")  # first and second version; both readable on white
FEATURES = ("auto", "tfidf", "embedding", "both")


def reliability_svg(curves: list[tuple[str, list[dict[str, Any]]]], *, size: int = 320) -> Markup:
    """An SVG reliability diagram: mean confidence (x) against accuracy (y) per bin, one line per version,
    the diagonal for perfect calibration; every text escaped here, so the result is safe to embed."""
    pad, inner = 44, size - 60
    x0, y0 = pad, 10

    def px(v: float) -> float:
        return round(x0 + v * inner, 1)

    def py(v: float) -> float:
        return round(y0 + (1 - v) * inner, 1)

    names = " and ".join(escape(name) for name, _ in curves) or "no version"
    parts = [
        f'<svg class="reliability" role="img" viewBox="0 0 {size} {size + 24}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="rel-title rel-desc">',
        f'<title id="rel-title">Reliability curve of {names}</title>',
        '<desc id="rel-desc">Accuracy of the held-out predictions per confidence bin; the dashed diagonal is '
        "perfect calibration.</desc>",
        f'<rect x="{x0}" y="{y0}" width="{inner}" height="{inner}" fill="#fff" stroke="#8c959f"/>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" '
        'stroke="#8c959f" stroke-dasharray="4 4"/>',
    ]
    for tick in (0, 0.5, 1):
        label = f"{tick:.0%}"
        bottom = y0 + inner + 14
        parts.append(f'<text x="{px(tick)}" y="{bottom}" font-size="11" text-anchor="middle">{label}</text>')
        parts.append(f'<text x="{x0 - 4}" y="{py(tick) + 4}" font-size="11" text-anchor="end">{label}</text>')
    parts.append(
        f'<text x="{px(0.5)}" y="{y0 + inner + 28}" font-size="11" text-anchor="middle">confidence</text>'
    )
    parts.append(
        f'<text x="12" y="{py(0.5)}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {py(0.5)})">accuracy</text>'
    )
    for i, (name, bins) in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        points = [
            (float(b["mean_confidence"]), float(b["accuracy"]), int(b.get("count") or 0))
            for b in bins
            if b.get("mean_confidence") is not None and b.get("accuracy") is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{px(c)},{py(a)}" for c, a, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for c, a, n in points:
            parts.append(
                f'<circle cx="{px(c)}" cy="{py(a)}" r="3.5" fill="{colour}">'
                f"<title>{escape(name)}: confidence {c:.0%}, accuracy {a:.0%}, {n} tickets</title></circle>"
            )
        parts.append(
            f'<text x="{x0 + 8}" y="{y0 + 16 + 14 * i}" font-size="12" fill="{colour}">'
            f"\u25cf {escape(name)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def compare(name: str, a: dict[str, Any], b: dict[str, Any] | None) -> dict[str, Any]:
    """Per-class precision, recall and coverage of one or two versions, side by side, and their curves."""
    ev_a = a.get("evaluation") or {}
    ev_b = (b or {}).get("evaluation") or {}
    per_a, per_b = ev_a.get("per_class") or {}, ev_b.get("per_class") or {}
    rows = []
    for label in sorted(set(per_a) | set(per_b), key=str):
        rows.append({"label": label, "a": per_a.get(label), "b": per_b.get(label) if b else None})
    curves = [(a["version"], (ev_a.get("reliability") or {}).get("bins") or [])]
    if b:
        curves.append((b["version"], (ev_b.get("reliability") or {}).get("bins") or []))
    return {
        "rows": rows,
        "chart": reliability_svg(curves),
        "ece": [(v, (ev.get("reliability") or {}).get("ece")) for v, ev in ((a["version"], ev_a),)]
        + ([(b["version"], (ev_b.get("reliability") or {}).get("ece"))] if b else []),
    }


def _with_measures(model: dict[str, Any]) -> dict[str, Any]:
    """A model as `list_models` gives it, with its kind and each version's own measures from its metadata."""
    from itsm_ai.classify import model_catalog

    metas = {}
    for v in model["versions"]:
        if not v.get("error"):
            try:
                metas[v["version"]] = model_catalog.get_version(model["name"], v["version"])
            except AppError:
                metas[v["version"]] = {}
    newest = metas.get(model["current"] or "") or next(iter(reversed(metas.values())), {})
    kind = model_kinds.model_kind(model["name"], newest)
    versions = [
        {**v, "measures": model_kinds.measures(model["name"], kind, metas.get(v["version"]))}
        for v in model["versions"]
    ]
    return {
        **model,
        "versions": versions,
        "kind": kind,
        "headings": model_kinds.headings(model["name"], kind),
        "shadow": model_kinds.runs_shadow(model["name"], kind),
    }


def grouped(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The models by kind, in the page's order; kinds without a model left out."""
    out = []
    for kind, title, about in model_kinds.KINDS:
        members = [m for m in models if m["kind"] == kind]
        if members:
            out.append({"kind": kind, "title": title, "about": about, "models": members})
    return out


@router.get("/console/models")
def models_home(request: Request, db_session: DbSession, user: ModelsPageUser):
    """The registry's models with held-out scores, a form to train a new version and the recent jobs."""
    try:
        from itsm_ai.classify.model_catalog import list_models
        from itsm_ai.classify.training import jobs
        from itsm_ai.classify.training.data import TRAINABLE_FIELDS

        models, problem = [_with_measures(m) for m in list_models()], None
        recent = jobs.list_jobs(db_session=db_session, limit=10)
        targets = list(TRAINABLE_FIELDS)
    except ImportError:
        models, problem, recent, targets = [], "the triage package is not installed", [], []
    running = next((j.id for j in recent if j.status in ("queued", "running")), None)
    return render(
        request,
        "console/models.html",
        user,
        nav="models",
        models=models,
        groups=grouped(models),
        problem=problem,
        jobs=recent,
        running=running,
        targets=targets,
        features=FEATURES,
    )


@router.get("/console/models/{name}")
def model_page(
    name: str,
    request: Request,
    db_session: DbSession,
    user: ModelsPageUser,
    a: Annotated[str | None, Query(max_length=20, pattern=r"^v\d{1,8}$")] = None,
    b: Annotated[str | None, Query(max_length=20, pattern=r"^v\d{1,8}$")] = None,
):
    """One model: versions with promote / rollback / challenger, two versions compared, the shadow report."""
    from itsm_ai.classify import model_catalog
    from itsm_ai.classify.serving import shadow

    model = _with_measures(model_catalog.get_model(name))
    versions = [v["version"] for v in model["versions"]]
    first = a or model["current"] or versions[-1]
    # By default CURRENT against the challenger, else against the newest other version.
    others = [v for v in versions if v != first]
    second = b or model["challenger"] or (max(others) if others else None)
    if second == first or second not in versions:
        second = None
    meta_a = model_catalog.get_version(name, first)
    meta_b = model_catalog.get_version(name, second) if second else None
    report = prediction_report = None
    if model["challenger"] and model["kind"] == model_kinds.TRIAGE:
        with model_catalog.existing_model(name):
            report = shadow.shadow_report(db_session=db_session, name=name)
    elif model["challenger"] and model["shadow"] and model["kind"] == model_kinds.PREDICTION:
        from itsm_ai.predictions import shadow as prediction_shadow
        from itsm_ai.predictions.enums import ModelName

        prediction_report = prediction_shadow.report(db_session=db_session, name=ModelName(name))
    return render(
        request,
        "console/model.html",
        user,
        nav="models",
        model=model,
        versions=versions,
        a=first,
        b=second,
        comparison=compare(name, meta_a, meta_b),
        side_by_side=[
            (v, model_kinds.measures(name, model["kind"], meta))
            for v, meta in ((first, meta_a), (second, meta_b))
            if meta is not None
        ],
        shadow=report,
        prediction_shadow=prediction_report,
        kind_title=next(title for kind, title, _ in model_kinds.KINDS if kind == model["kind"]),
    )
