"""Why two triage targets stay out of reach: a validation-only study on the training part of each split.

Run ``python -m benchmarks.bench_classify_study`` (``--parts topics,assignment``). It uses the same fixed
80/20 hold-out as ``bench_classify`` but never touches the 20% test part: every number here is an outer
3-fold cross-validation on the 80% training part, so nothing in it can tune on the evaluation split.

- topics: coverage at precision 0.95 (target 0.70) of the chosen pipeline and of variants around it
  (threshold folds, calibration, C, classifier, kNN weight and size, text cleaning), plus a learned
  "is this suggestion right?" confidence (logistic regression on the out-of-fold scores) against the plain
  blended probability, both thresholded per class on one half and scored on the other.
- assignment: top-3 accuracy (target 0.93) over pipelines, kNN weights, a lower minimum class size and the
  caller as an extra token (the data set's only other column), next to a plain TF-IDF + LinearSVC.

Prints a table and writes ``benchmarks/results/classify_study.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_predict  # noqa: E402

from benchmarks._classify_data import (  # noqa: E402
    DATA_DIR,
    DEMO_DIR,
    RESULTS_DIR,
    cached_embeddings,
    load_assignment_with_caller,
    load_topics,
)
from benchmarks.bench_classify import baseline, log, split, take  # noqa: E402
from itsm_ai.classify.estimators.classifier import TriageClassifier  # noqa: E402
from itsm_ai.classify.estimators.evaluation import evaluate  # noqa: E402
from itsm_ai.classify.estimators.features import prime_embedding_cache  # noqa: E402
from itsm_ai.classify.estimators.selection import _strata  # noqa: E402
from itsm_ai.classify.estimators.thresholds import per_class_thresholds, precision_coverage  # noqa: E402

OUTER_FOLDS = 3
SEED = 0
# The pipeline bench_classify chose for topics (selected by CV on the training part).
TOPICS_CHOSEN = {
    "features": "both",
    "knn_k": 20,
    "knn_temperature": 0.1,
    "knn_weight": 0.3,
    "embedding_weight": 0.0,
}
TOPICS_VARIANTS = {
    "chosen": {},
    "threshold_cv_5": {"threshold_cv": 5},
    "calibration_cv_5": {"calibration_cv": 5},
    "isotonic": {"calibration": "isotonic"},
    "temperature": {"calibration": "temperature"},
    "C_0.1": {"C": 0.1},
    "C_1": {"C": 1.0},
    "logreg_C_3": {"classifier": "logreg", "C": 3.0},
    "knn_weight_0.5": {"knn_weight": 0.5},
    "knn_k_40": {"knn_k": 40},
    "embedding_weight_0.5": {"embedding_weight": 0.5},
    "clean_text": {"clean_text": True},
}
ASSIGNMENT_BASE = {"features": "both", "min_class_count": 10}
ASSIGNMENT_VARIANTS = {
    "unweighted": {"class_weight": None},
    "balanced": {},
    "unweighted_knn_20": {"class_weight": None, "knn_k": 20, "knn_temperature": 0.1},
    "unweighted_min_class_5": {"class_weight": None, "min_class_count": 5},
}
KNN_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)


def training_part(
    name: str, texts: list[str], labels: list[str], *, embed: bool = True
) -> tuple[np.ndarray, list[str], list]:
    """Indices, texts and labels of the 80% training part of bench_classify's split (embeddings primed)."""
    if embed:
        prime_embedding_cache(texts, cached_embeddings(texts, tag=name))
    train, _test = split(len(texts), labels)
    return train, take(texts, train), take(labels, train)


def outer_folds(labels: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified outer folds over the training part (classes under 3 rows share one stratum)."""
    splitter = StratifiedKFold(OUTER_FOLDS, shuffle=True, random_state=SEED + 1)
    return list(splitter.split(np.zeros(len(labels)), _strata(labels, OUTER_FOLDS)))


def cv_variant(X: list[str], y: list, params: dict) -> dict:
    """Full TriageClassifier (thresholds included) per outer fold: mean metrics and the fold spread."""
    truth = np.array(y, dtype=object)
    start, rows = time.perf_counter(), []
    for fit_idx, val_idx in outer_folds(y):
        model = TriageClassifier(**{**params, "random_state": SEED})
        model.fit([X[i] for i in fit_idx], truth[fit_idx].tolist())
        report = evaluate(model, [X[i] for i in val_idx], truth[val_idx].tolist())
        rows.append(report)
    keys = ("accuracy", "macro_f1", "top3_accuracy", "coverage", "precision_at_threshold")
    out = {k: float(np.mean([r[k] or 0.0 for r in rows])) for k in keys}
    out["coverage_folds"] = [round(r["coverage"], 4) for r in rows]
    out["seconds"] = time.perf_counter() - start
    return out


def oof_parts(X: list[str], y: list, params: dict) -> tuple[np.ndarray, np.ndarray, list]:
    """Out-of-fold linear probabilities and kNN votes (separately) for every training-part row."""
    truth = np.array(y, dtype=object)
    counts = Counter(y)
    classes = sorted(c for c, n in counts.items() if n >= params.get("min_class_count", 30))
    linear = np.zeros((len(y), len(classes)))
    votes = np.zeros_like(linear)
    for fit_idx, val_idx in outer_folds(y):
        model = TriageClassifier(**{**params, "threshold_cv": None, "random_state": SEED})
        model.fit([X[i] for i in fit_idx], truth[fit_idx].tolist())
        cols = [classes.index(c) for c in model.classes_]
        held_out = [X[i] for i in val_idx]
        # The blend is (1 - knn_weight) * linear + knn_weight * vote: weight 0 gives one part, 1 the other.
        linear[np.ix_(val_idx, cols)] = model.set_params(knn_weight=0.0).predict_proba(held_out)
        votes[np.ix_(val_idx, cols)] = model.set_params(knn_weight=1.0).predict_proba(held_out)
    return linear, votes, classes


def _confidence_features(proba: np.ndarray, linear: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """What a correctness model sees about a row's top suggestion."""
    rows = np.arange(len(proba))
    top = proba.argmax(axis=1)
    ordered = np.sort(proba, axis=1)
    entropy = -(proba * np.log(proba + 1e-12)).sum(axis=1)
    return np.c_[
        ordered[:, -1],
        ordered[:, -1] - ordered[:, -2],
        linear[rows, top],
        votes[rows, top],
        linear.argmax(axis=1) == top,
        votes.argmax(axis=1) == top,
        entropy,
        np.eye(proba.shape[1])[top],
    ]


def learned_confidence(linear: np.ndarray, votes: np.ndarray, y: list, classes: list, w: float) -> dict:
    """Per-class thresholds on the blended probability vs on a learned P(correct), 10 random halvings."""
    truth = np.array(y, dtype=object)
    proba = (1 - w) * linear + w * votes
    top = proba.argmax(axis=1)
    index = {c: i for i, c in enumerate(classes)}
    correct = (top == np.array([index.get(v, -1) for v in y])).astype(int)
    feats = _confidence_features(proba, linear, votes)

    def as_top_column(rows: np.ndarray, score: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), len(classes)))
        out[np.arange(len(rows)), top[rows]] = score
        return out

    results: dict[str, list] = {"blended_probability": [], "learned_confidence": []}
    for seed in range(10):
        half_a, half_b = next(StratifiedKFold(2, shuffle=True, random_state=seed).split(feats, correct))
        thresholds = per_class_thresholds(proba[half_a], truth[half_a], classes)
        results["blended_probability"].append(
            precision_coverage(proba[half_b], truth[half_b], classes, thresholds)
        )
        make = lambda: LogisticRegression(C=1.0, max_iter=2000)  # noqa: E731
        held_out = cross_val_predict(make(), feats[half_a], correct[half_a], cv=5, method="predict_proba")
        thresholds = per_class_thresholds(as_top_column(half_a, held_out[:, 1]), truth[half_a], classes)
        scored = make().fit(feats[half_a], correct[half_a]).predict_proba(feats[half_b])[:, 1]
        results["learned_confidence"].append(
            precision_coverage(as_top_column(half_b, scored), truth[half_b], classes, thresholds)
        )
    return {
        name: {
            "coverage": float(np.mean([r["coverage"] for r in runs])),
            "precision": float(np.mean([r["precision"] or 0.0 for r in runs])),
        }
        for name, runs in results.items()
    }


def top3_by_knn_weight(linear: np.ndarray, votes: np.ndarray, y: list, classes: list) -> dict:
    """Accuracy and top-3 accuracy of the blend at each kNN weight (untrained groups count as misses)."""
    index = {c: i for i, c in enumerate(classes)}
    truth = np.array([index.get(v, -1) for v in y])
    out = {}
    for w in KNN_WEIGHTS:
        proba = (1 - w) * linear + w * votes
        top3 = np.argsort(-proba, axis=1)[:, :3]
        out[str(w)] = {
            "accuracy": float((proba.argmax(axis=1) == truth).mean()),
            "top3_accuracy": float((top3 == truth[:, None]).any(axis=1).mean()),
        }
    return out


def plain_svc_top3(X: list[str], y: list, callers: list[str] | None, caller_weight: float = 0.5) -> dict:
    """bench_classify's TF-IDF + LinearSVC baseline per outer fold, optionally with a one-hot caller."""
    runs = []
    for fit_idx, val_idx in outer_folds(y):
        extra = None
        if callers is not None:
            onehot = TfidfVectorizer(analyzer=lambda s: [s])
            extra = (
                caller_weight * onehot.fit_transform([callers[i] for i in fit_idx]),
                caller_weight * onehot.transform([callers[i] for i in val_idx]),
            )
        runs.append(
            baseline(take(X, fit_idx), take(y, fit_idx), take(X, val_idx), take(y, val_idx), extra=extra)
        )
    return {k: float(np.mean([r[k] for r in runs])) for k in ("accuracy", "top3_accuracy")}


def study_topics(tiny: bool = False) -> dict:
    """Coverage at precision 0.95 across variants of the chosen topics pipeline, and a learned confidence.

    tiny: the demo slice of the package, TF-IDF only (no MiniLM), the chosen pipeline only, 2-fold thresholds.
    """
    if tiny:
        _, X, y = training_part("topics", *load_topics(DEMO_DIR), embed=False)
        chosen = {**TOPICS_CHOSEN, "features": "tfidf", "min_class_count": 10, "threshold_cv": 2}
        variants = {"chosen": TOPICS_VARIANTS["chosen"]}
    else:
        _, X, y = training_part("topics", *load_topics())
        chosen, variants = TOPICS_CHOSEN, TOPICS_VARIANTS
    out: dict = {"n_rows": len(y), "variants": {}}
    for name, change in variants.items():
        out["variants"][name] = cv_variant(X, y, {**chosen, **change})
        log(f"topics {name}: {out['variants'][name]}")
    linear, votes, classes = oof_parts(X, y, chosen)
    out["confidence"] = learned_confidence(linear, votes, y, classes, chosen["knn_weight"])
    log(f"topics confidence: {out['confidence']}")
    return out


def study_assignment() -> dict:
    """Top-3 accuracy across pipelines, kNN weights, minimum class size and the caller column."""
    texts, groups, callers = load_assignment_with_caller()
    train, X, y = training_part("assignment", texts, groups)
    who = take(callers, train)
    out: dict = {"n_rows": len(y), "variants": {}}
    for name, change in ASSIGNMENT_VARIANTS.items():
        linear, votes, classes = oof_parts(X, y, {**ASSIGNMENT_BASE, **change})
        out["variants"][name] = top3_by_knn_weight(linear, votes, y, classes)
        best = max(out["variants"][name].values(), key=lambda r: r["top3_accuracy"])
        log(f"assignment {name}: best top-3 {best}")
    with_caller = [f"{text} . caller_{c.replace(' ', '_')}" for text, c in zip(X, who, strict=True)]
    prime_embedding_cache(with_caller, cached_embeddings(with_caller, tag="assignment_caller"))
    linear, votes, classes = oof_parts(with_caller, y, {**ASSIGNMENT_BASE, "class_weight": None})
    out["variants"]["unweighted_caller_token"] = top3_by_knn_weight(linear, votes, y, classes)
    out["plain_svc"] = plain_svc_top3(X, y, None)
    out["plain_svc_caller"] = plain_svc_top3(X, y, who)
    log(f"assignment plain svc {out['plain_svc']} with caller {out['plain_svc_caller']}")
    return out


def print_table(results: dict) -> None:
    """Human-readable summary of the study."""
    if "topics" in results:
        t = results["topics"]
        print(f"\ntopics: outer {OUTER_FOLDS}-fold CV on the training part ({t['n_rows']} tickets)")
        print("coverage at precision 0.95 (target 0.70)")
        print(f"{'variant':24s} {'acc':>6s} {'F1':>6s} {'top3':>6s} {'cover':>6s} {'prec':>6s}  folds")
        for name, r in t["variants"].items():
            print(
                f"{name:24s} {r['accuracy']:6.3f} {r['macro_f1']:6.3f} {r['top3_accuracy']:6.3f} "
                f"{r['coverage']:6.3f} {r['precision_at_threshold']:6.3f}  {r['coverage_folds']}"
            )
        for name, r in t["confidence"].items():
            print(f"thresholds on {name:22s} coverage {r['coverage']:.3f} precision {r['precision']:.3f}")
    if "assignment" in results:
        a = results["assignment"]
        print(f"\nassignment: outer {OUTER_FOLDS}-fold CV on the training part ({a['n_rows']} incidents)")
        print("top-3 accuracy by kNN weight (target 0.93)")
        print(f"{'variant':24s}" + "".join(f"{w:>7}" for w in KNN_WEIGHTS))
        for name, rows in a["variants"].items():
            print(f"{name:24s}" + "".join(f"{rows[str(w)]['top3_accuracy']:7.3f}" for w in KNN_WEIGHTS))
        for name in ("plain_svc", "plain_svc_caller"):
            r = a[name]
            print(f"{name:24s} accuracy {r['accuracy']:.3f} top-3 {r['top3_accuracy']:.3f}")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts, print the table and write benchmarks/results/classify_study.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="topics,assignment", help="comma-separated: topics, assignment")
    parser.add_argument("--output", type=Path, default=None, help="default results/classify_study.json")
    parser.add_argument(
        "--tiny", action="store_true", help="CI size: topics on the demo slice, TF-IDF only, one variant"
    )
    args = parser.parse_args(argv)
    if args.tiny:
        results = {"topics": study_topics(tiny=True)}
        output = args.output or RESULTS_DIR / "classify_study_tiny.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2))
        print_table(results)
        print(f"\nwritten {output}")
        return 0
    args.output = args.output or RESULTS_DIR / "classify_study.json"
    if not DATA_DIR.exists():
        print(f"real data folder {DATA_DIR} is absent", file=sys.stderr)
        return 2
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    results: dict = {}
    if "topics" in parts:
        results["topics"] = study_topics()
    if "assignment" in parts:
        results["assignment"] = study_assignment()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nwritten {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
