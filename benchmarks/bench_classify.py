"""Triage benchmark on real ticket data: quality of the pipelines vs a TF-IDF + LinearSVC baseline, and speed.

Run ``python -m benchmarks.bench_classify`` (or ``python benchmarks/bench_classify.py``); ``--parts`` picks
among topics, assignment, routing, speed. Prints a table and writes ``benchmarks/results/classify.json``.
Every split is a fixed stratified 80/20 hold-out (random_state=0); pipeline selection and tuning use
cross-validation on the training part only, the test part is scored once at the end. Embeddings are cached
in ``benchmarks/results/`` so a rerun does not recompute them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from benchmarks._classify_data import (  # noqa: E402
    DATA_DIR,
    RESULTS_DIR,
    cached_embeddings,
    load_assignment,
    load_routing,
    load_topics,
)
from itsm_ai.classify.estimator import TriageClassifier  # noqa: E402
from itsm_ai.classify.evaluation import evaluate  # noqa: E402
from itsm_ai.classify.features import clear_embedding_cache, prime_embedding_cache  # noqa: E402
from itsm_ai.classify.registry import library_versions  # noqa: E402
from itsm_ai.classify.selection import compare_pipelines  # noqa: E402

SEED = 0
CV_FOLDS = 3
FEATURE_CANDIDATES = {
    "tfidf": {"features": "tfidf"},
    "embedding": {"features": "embedding"},
    "both": {"features": "both"},
}
SUMMARY_KEYS = ("accuracy", "macro_f1", "top3_accuracy", "coverage", "precision_at_threshold", "brier")


def log(msg: str) -> None:
    """Progress line on stderr with a timestamp."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def split(n_rows: int, labels: list, test_size: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stratified hold-out; groups too small to stratify share one stratum."""
    counts = Counter(labels)
    strata = [y if counts[y] >= 10 else "__small__" for y in labels]
    return train_test_split(np.arange(n_rows), test_size=test_size, stratify=strata, random_state=SEED)


def take(seq: list, idx: np.ndarray) -> list:
    """Rows of a list by index."""
    return [seq[i] for i in idx]


def baseline(
    train_docs: list[str], y_train: list, test_docs: list[str], y_test: list, analyzer="word"
) -> dict:
    """Plain TfidfVectorizer + LinearSVC (sklearn defaults, all classes), trained in this run."""
    start = time.perf_counter()
    vec = TfidfVectorizer() if analyzer == "word" else TfidfVectorizer(analyzer=str.split, lowercase=False)
    clf = LinearSVC(random_state=SEED).fit(vec.fit_transform(train_docs), y_train)
    scores = clf.decision_function(vec.transform(test_docs))
    predicted = clf.classes_[scores.argmax(axis=1)]
    top3 = clf.classes_[np.argsort(-scores, axis=1)[:, :3]]
    truth = np.array(y_test, dtype=object)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "top3_accuracy": float((top3 == truth[:, None]).any(axis=1).mean()),
        "fit_seconds": time.perf_counter() - start,
    }


def summary(report: dict) -> dict:
    """The headline numbers of an evaluation report."""
    return {k: report.get(k) for k in SUMMARY_KEYS}


def fit_and_score(params: dict, Xtr, ytr, Xte, yte) -> tuple[TriageClassifier, dict, float]:
    """Fit a TriageClassifier with thresholds on the training part, evaluate on the test part."""
    start = time.perf_counter()
    model = TriageClassifier(**{**params, "random_state": SEED}).fit(Xtr, ytr)
    seconds = time.perf_counter() - start
    return model, evaluate(model, Xte, yte), seconds


def text_dataset(name: str, texts: list[str], labels: list[str], tuning: dict[str, dict]) -> dict:
    """Baseline, pipeline selection (CV on train), tuning around the winner, and hold-out scores."""
    log(f"{name}: {len(texts)} tickets, {len(set(labels))} classes")
    prime_embedding_cache(texts, cached_embeddings(texts, tag=name))
    train, test = split(len(texts), labels)
    Xtr, ytr, Xte, yte = take(texts, train), take(labels, train), take(texts, test), take(labels, test)
    out: dict = {"n_train": len(train), "n_test": len(test), "n_classes": len(set(labels))}
    out["baseline"] = baseline(Xtr, ytr, Xte, yte)
    log(f"{name}: baseline {out['baseline']}")

    selection = compare_pipelines(Xtr, ytr, candidates=FEATURE_CANDIDATES, cv=CV_FOLDS, random_state=SEED)
    log(f"{name}: selection {selection['reason']}")
    winner = selection["selected_params"]
    candidates = {"selected": winner, **{k: {**winner, **v} for k, v in tuning.items()}}
    tuned = compare_pipelines(
        Xtr,
        ytr,
        candidates=candidates,
        cv=CV_FOLDS,
        random_state=SEED,
        known_scores={"selected": selection["candidates"][selection["selected"]]},
    )
    log(f"{name}: tuning {tuned['reason']}")
    out["selection"], out["tuning"] = selection, tuned

    pipelines = {}
    best_params = tuned["selected_params"]
    runs = {k: {**best_params, "features": v["features"]} for k, v in FEATURE_CANDIDATES.items()}
    for kind, params in runs.items():
        model, report, seconds = fit_and_score(params, Xtr, ytr, Xte, yte)
        pipelines[kind] = {"params": params, "fit_seconds": seconds, **summary(report)}
        log(f"{name}: {kind} {pipelines[kind]}")
        if kind == best_params["features"]:
            out["chosen_report"] = report
            out["chosen_threshold_report_oof"] = model.threshold_report_
            out["excluded_classes"] = model.excluded_classes_
    out["pipelines"] = pipelines
    out["chosen"] = best_params
    return out


def routing_dataset(full: bool) -> dict:
    """Assignment group from category, subcategory, symptom, CI and location (last event per incident)."""
    name = "routing_full" if full else "routing"
    records, groups = load_routing(full=full)
    log(f"{name}: {len(records)} incidents, {len(set(groups))} groups")
    train, test = split(len(records), groups)
    Xtr, ytr, Xte, yte = take(records, train), take(groups, train), take(records, test), take(groups, test)
    tokens = TriageClassifier("fields", field_crosses=False)._make_features().as_documents
    out: dict = {"n_train": len(train), "n_test": len(test), "n_groups": len(set(groups))}
    out["baseline"] = baseline(tokens(Xtr), ytr, tokens(Xte), yte, analyzer="tokens")
    majority = Counter(ytr).most_common(1)[0][0]
    out["majority_accuracy"] = float(np.mean([g == majority for g in yte]))
    candidates = {
        "fields": {"features": "fields"},
        "fields_no_crosses": {"features": "fields", "field_crosses": False},
        "fields_no_knn": {"features": "fields", "knn_weight": 0.0},
    }
    # The small log has ~700 training incidents: 30 examples per group would leave most groups out.
    base = {} if full else {"min_class_count": 10}
    selection = compare_pipelines(
        Xtr, ytr, candidates=candidates, base_params=base, cv=CV_FOLDS, random_state=SEED
    )
    log(f"{name}: selection {selection['reason']}")
    model, report, seconds = fit_and_score(selection["selected_params"], Xtr, ytr, Xte, yte)
    out["selection"], out["fit_seconds"] = selection, seconds
    out["ours"] = summary(report)
    out["excluded_groups"] = len(model.excluded_classes_)
    log(f"{name}: ours {out['ours']} baseline {out['baseline']}")
    return out


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def speed(n_tickets: int = 150) -> dict:
    """p95 latency of one suggestion vs one bare embedding call, and embedding throughput per backend."""
    from itsm_ai.embeddings import get_encoder

    texts, labels = load_topics()
    prime_embedding_cache(texts, cached_embeddings(texts, tag="topics"))
    train, test = split(len(texts), labels)
    model = TriageClassifier("both", random_state=SEED).fit(take(texts, train), take(labels, train))
    encoder = get_encoder()
    sample = take(texts, test)[:n_tickets]
    clear_embedding_cache()
    for text in sample[:5]:  # warm-up: model load, first-call allocations
        encoder.encode([text])
        model.predict_with_evidence([text])
    bare, suggest = [], []
    for text in sample:
        start = time.perf_counter()
        encoder.encode([text])
        bare.append(time.perf_counter() - start)
        clear_embedding_cache()  # the suggestion must embed the text itself, as for a new ticket
        start = time.perf_counter()
        model.predict_with_evidence([text])
        suggest.append(time.perf_counter() - start)
    out = {
        "n": len(sample),
        "bare_embedding_p95_ms": 1000 * _p95(bare),
        "suggestion_p95_ms": 1000 * _p95(suggest),
        "bare_embedding_p50_ms": 1000 * float(np.median(bare)),
        "suggestion_p50_ms": 1000 * float(np.median(suggest)),
    }
    out["ratio_p95"] = out["suggestion_p95_ms"] / out["bare_embedding_p95_ms"]
    log(f"speed: {out}")
    out["backends"] = backends(texts, labels, train, test)
    return out


def _throughput(encode, texts: list[str], repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encode(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def _embedding_f1(vectors: np.ndarray, labels: list, train, test) -> float:
    """Macro-F1 of the embedding-only pipeline on the hold-out when fed with these vectors."""
    texts = [f"\x00{i}" for i in range(len(labels))]  # private keys: these vectors never mix with others
    prime_embedding_cache(texts, vectors, backend="bench")
    params = {
        "features": "embedding",
        "embedding_backend": "bench",
        "threshold_cv": None,
        "random_state": SEED,
    }
    model = TriageClassifier(**params).fit(take(texts, train), take(labels, train))
    predicted = model.predict(take(texts, test))
    return float(f1_score(take(labels, test), predicted, average="macro", zero_division=0))


def backends(texts: list[str], labels: list[str], train, test) -> dict:
    """Embedding throughput and downstream macro-F1: torch fp32 vs int8 dynamic quantisation vs ONNX."""
    import torch

    from itsm_ai.embeddings import get_encoder

    probe = texts[:512]
    fp32 = get_encoder()
    model = fp32._load()
    results: dict = {}
    torch_tp = _throughput(fp32.encode, probe)
    results["torch_fp32"] = {
        "texts_per_second": torch_tp,
        "macro_f1": _embedding_f1(cached_embeddings(texts, tag="topics"), labels, train, test),
    }
    log(f"backends: torch fp32 {results['torch_fp32']}")

    quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)

    def encode_int8(batch):
        """Embed with the int8-quantised copy of the model."""
        return quantized.encode(batch, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)

    int8_tp = _throughput(encode_int8, probe)
    int8_vectors = cached_embeddings(texts, tag="topics_int8", encode=encode_int8)
    results["torch_int8_dynamic"] = {
        "texts_per_second": int8_tp,
        "speedup": int8_tp / torch_tp,
        "macro_f1": _embedding_f1(int8_vectors, labels, train, test),
    }
    results["torch_int8_dynamic"]["macro_f1_delta"] = (
        results["torch_int8_dynamic"]["macro_f1"] - results["torch_fp32"]["macro_f1"]
    )
    log(f"backends: int8 {results['torch_int8_dynamic']}")

    try:  # sentence-transformers' own ONNX backend needs the optimum-onnx extra
        get_encoder(backend="onnx").encode(probe[:2])
        variants = {"onnx_sentence_transformers": get_encoder(backend="onnx").encode}
    except Exception as exc:
        results["onnx_sentence_transformers"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        variants = {}
    try:  # the same idea by hand: torch.onnx export + onnxruntime, fp32 and int8 (dynamic)
        from benchmarks._classify_data import OnnxMiniLM

        variants["onnxruntime_fp32"] = OnnxMiniLM(model, RESULTS_DIR / "onnx").encode
        variants["onnxruntime_int8"] = OnnxMiniLM(model, RESULTS_DIR / "onnx", quantize=True).encode
    except Exception as exc:
        results["onnxruntime_fp32"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    for key, encode in variants.items():
        tp = _throughput(encode, probe)
        vectors = cached_embeddings(texts, tag=f"topics_{key}", encode=encode)
        results[key] = {
            "texts_per_second": tp,
            "speedup": tp / torch_tp,
            "macro_f1": _embedding_f1(vectors, labels, train, test),
        }
        results[key]["macro_f1_delta"] = results[key]["macro_f1"] - results["torch_fp32"]["macro_f1"]
        log(f"backends: {key} {results[key]}")
    return results


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def print_table(results: dict) -> None:
    """Human-readable table of the headline numbers."""
    rows = [("data set / pipeline", "accuracy", "macro-F1", "top-3", "coverage", "prec@thr", "Brier")]
    for name in ("topics", "assignment"):
        if name not in results:
            continue
        r = results[name]
        b = r["baseline"]
        rows.append(
            (
                f"{name}: baseline tfidf+LinearSVC",
                _fmt(b["accuracy"]),
                _fmt(b["macro_f1"]),
                _fmt(b["top3_accuracy"]),
                "-",
                "-",
                "-",
            )
        )
        for kind, m in r["pipelines"].items():
            mark = " *" if kind == r["chosen"]["features"] else ""
            rows.append(
                (
                    f"{name}: {kind}{mark}",
                    _fmt(m["accuracy"]),
                    _fmt(m["macro_f1"]),
                    _fmt(m["top3_accuracy"]),
                    _fmt(m["coverage"]),
                    _fmt(m["precision_at_threshold"]),
                    _fmt(m["brier"]),
                )
            )
    for name in ("routing", "routing_full"):
        if name not in results:
            continue
        r = results[name]
        b, o = r["baseline"], r["ours"]
        rows.append(
            (
                f"{name}: baseline one-hot+LinearSVC",
                _fmt(b["accuracy"]),
                _fmt(b["macro_f1"]),
                _fmt(b["top3_accuracy"]),
                "-",
                "-",
                "-",
            )
        )
        rows.append(
            (
                f"{name}: {r['selection']['selected']} *",
                _fmt(o["accuracy"]),
                _fmt(o["macro_f1"]),
                _fmt(o["top3_accuracy"]),
                _fmt(o["coverage"]),
                _fmt(o["precision_at_threshold"]),
                _fmt(o["brier"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    if "speed" in results:
        s = results["speed"]
        print(
            f"\nspeed: suggestion p95 {s['suggestion_p95_ms']:.1f} ms vs bare embedding p95 "
            f"{s['bare_embedding_p95_ms']:.1f} ms -> ratio {s['ratio_p95']:.2f} (target <= 1.5)"
        )
        for backend, m in s["backends"].items():
            if "error" in m:
                print(f"  {backend}: not run ({m['error'][:150]})")
            else:
                print(
                    f"  {backend}: {m['texts_per_second']:.1f} texts/s, "
                    f"speedup {m.get('speedup', 1.0):.2f}x, "
                    f"macro-F1 {m['macro_f1']:.4f} (delta {m.get('macro_f1_delta', 0.0):+.4f})"
                )


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts, print the table and write benchmarks/results/classify.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="topics,assignment,routing,routing_full,speed")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "classify.json")
    args = parser.parse_args(argv)
    if not DATA_DIR.exists():
        print(f"real data folder {DATA_DIR} is absent", file=sys.stderr)
        return 2
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    results: dict = {}
    if args.output.exists():  # keep the numbers of parts not rerun this time
        results = json.loads(args.output.read_text())
    results["environment"] = {**library_versions(), "machine": platform.machine()}
    tuning = {
        "C_1": {"C": 1.0},
        "no_knn": {"knn_weight": 0.0},
        "unweighted": {"class_weight": None},
        "word_1_3": {"word_ngram_range": (1, 3)},
    }
    if "topics" in parts:
        results["topics"] = text_dataset("topics", *load_topics(), tuning=tuning)
    if "assignment" in parts:
        results["assignment"] = text_dataset("assignment", *load_assignment(), tuning=tuning)
    if "routing" in parts:
        results["routing"] = routing_dataset(full=False)
    if "routing_full" in parts:
        results["routing_full"] = routing_dataset(full=True)
    if "speed" in parts:
        results["speed"] = speed()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str))
    print_table(results)
    print(f"\nwritten {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
