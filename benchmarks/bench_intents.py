"""Virtual agent intent detection on CLINC150 (150 intents + out-of-scope queries): in-scope accuracy and
out-of-scope recall of the abstain logic, against a plain classifier with a confidence threshold.

Run ``python -m benchmarks.bench_intents`` (``--no-embeddings`` skips the MiniLM variants). Writes
``benchmarks/results/intents.json``.

Protocol: every detector is fitted on the `train` split (15,000 in-scope utterances) plus `oos_train`
(100 out-of-scope utterances, also part of the training data). `oos_train` is not a class: the detector only
uses it to choose how its out-of-scope score mixes confidence and nearest-example similarity. Temperature,
weight and threshold are chosen on a validation split carved from `train` (20%, stratified; the threshold
keeps 95% of validation in-scope messages). `test` and `oos_test` are scored once at the end; the data
set's own `val` / `oos_val` are not used. In-scope accuracy counts an in-scope message the detector rejects
as wrong.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from itsm_ai.chat.features import embed, prime_embeddings  # noqa: E402
from itsm_ai.chat.intents import IntentDetector  # noqa: E402
from itsm_ai.config import get_settings  # noqa: E402

DATA = get_settings().shared_data_dir / "clinc150_intents_oos.json"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
EMB_CACHE = RESULTS_DIR / "clinc150_minilm.npz"


def load(path: Path = DATA) -> dict[str, list[tuple[str, str]]]:
    """The CLINC150 splits as lists of (text, intent)."""
    data = json.loads(path.read_text())
    return {k: [(t, lab) for t, lab in v] for k, v in data.items()}


def prime_cache(data: dict[str, list[tuple[str, str]]]) -> None:
    """Load MiniLM vectors of every utterance from the results folder, computing them once if absent."""
    texts = sorted({t for rows in data.values() for t, _ in rows})
    if EMB_CACHE.exists():
        cached = np.load(EMB_CACHE, allow_pickle=True)
        prime_embeddings(list(cached["texts"]), cached["vectors"])
    vectors = embed(texts)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(EMB_CACHE, texts=np.array(texts, dtype=object), vectors=vectors)


def tiny_slice(data: dict[str, list[tuple[str, str]]], intents: int = 25, oos_test: int = 250) -> dict:
    """The first `intents` intents (by name) of every split, all of oos_train and part of oos_test (CI)."""
    keep = sorted({lab for _, lab in data["train"]})[:intents]
    out = {k: [(t, lab) for t, lab in v if lab in keep] for k, v in data.items() if not k.startswith("oos")}
    out["oos_train"] = data["oos_train"]
    out["oos_test"] = data["oos_test"][:oos_test]
    return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return round(float(total), 4)


def evaluate(detector: IntentDetector, data, name: str) -> dict:
    """Fit on train + oos_train, score on test + oos_test."""
    train = data["train"] + data["oos_train"]
    start = time.perf_counter()
    detector.fit([t for t, _ in train], [lab for _, lab in train])
    fit_s = time.perf_counter() - start
    test_in = data["test"]
    test_oos = data["oos_test"]
    start = time.perf_counter()
    pred_in = detector.predict([t for t, _ in test_in])
    pred_oos = detector.predict([t for t, _ in test_oos])
    predict_ms = (time.perf_counter() - start) * 1000 / (len(test_in) + len(test_oos))
    y_in = np.array([lab for _, lab in test_in], dtype=object)
    probs = detector.predict_proba([t for t, _ in test_in])
    top = detector.classes_[probs.argmax(axis=1)]
    single = []
    for text, _ in test_in[:200]:
        t0 = time.perf_counter()
        detector.decide([text])
        single.append((time.perf_counter() - t0) * 1000)
    row = {
        "detector": name,
        "in_scope_accuracy": float(np.mean(pred_in == y_in)),
        "out_of_scope_recall": float(np.mean(pred_oos == detector.oos_label)),
        "in_scope_rejected": float(np.mean(pred_in == detector.oos_label)),
        "classifier_accuracy": float(np.mean(top == y_in)),
        "confidence_ece": expected_calibration_error(probs.max(axis=1), top == y_in),
        "similarity_weight": detector.similarity_weight_,
        "abstain": detector.abstain,
        "threshold": detector.threshold_,
        "temperature": detector.temperature_,
        "validation": detector.validation_,
        "fit_seconds": round(fit_s, 1),
        "batch_ms_per_message": round(predict_ms, 3),
        "single_message_p95_ms": round(float(np.percentile(single, 95)), 2),
    }
    print(
        f"{name:<48} in-scope acc {row['in_scope_accuracy']:.3f}  OOS recall {row['out_of_scope_recall']:.3f}"
        f"  (classifier acc {row['classifier_accuracy']:.3f}, ECE {row['confidence_ece']:.3f})"
        f"  (w={row['similarity_weight']}, fit {row['fit_seconds']}s,"
        f" p95 {row['single_message_p95_ms']} ms/msg)",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write results/intents.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--no-embeddings", action="store_true", help="skip the MiniLM variants")
    parser.add_argument(
        "--tiny", action="store_true", help="CI size: 25 intents, 250 out-of-scope tests, TF-IDF only"
    )
    args = parser.parse_args(argv)
    if not args.data.exists():
        if args.tiny:  # CLINC150 is not shipped with the repository
            print(f"skipped: data not found: {args.data}")
            return 0
        print(f"data not found: {args.data}", file=sys.stderr)
        return 2
    data = load(args.data)
    if args.tiny:
        data = tiny_slice(data)
        args.no_embeddings = True
    print(
        f"CLINC150: train {len(data['train'])} + oos_train {len(data['oos_train'])};"
        f" test {len(data['test'])} in-scope + {len(data['oos_test'])} out-of-scope"
    )
    variants = [
        (
            "baseline: TF-IDF SVM + confidence threshold",
            IntentDetector(abstain="similarity", similarity_weight=0.0),
        ),
        ("TF-IDF SVM + nearest-example similarity", IntentDetector(abstain="similarity")),
    ]
    if not args.tiny:
        variants.append(("TF-IDF SVM + scope gate", IntentDetector()))
    if not args.no_embeddings:
        prime_cache(data)
        variants += [
            (
                "TF-IDF+MiniLM SVM + confidence threshold",
                IntentDetector(abstain="similarity", embeddings=True, similarity_weight=0.0),
            ),
            (
                "TF-IDF+MiniLM SVM + nearest-example similarity",
                IntentDetector(abstain="similarity", embeddings=True),
            ),
            (
                "same, threshold keeping 97% of validation",
                IntentDetector(abstain="similarity", embeddings=True, in_scope_recall=0.97),
            ),
            ("TF-IDF+MiniLM SVM + scope gate", IntentDetector(embeddings=True)),
        ]
    rows = [evaluate(det, data, name) for name, det in variants]
    base = rows[0]
    best = max(rows, key=lambda r: (r["in_scope_accuracy"] >= 0.9, r["out_of_scope_recall"]))
    ratio = best["out_of_scope_recall"] / max(base["out_of_scope_recall"], 1e-9)
    met = best["out_of_scope_recall"] >= 0.7 and best["in_scope_accuracy"] >= 0.9
    print(
        f"\nbest: {best['detector']}: OOS recall {best['out_of_scope_recall']:.3f} vs baseline"
        f" {base['out_of_scope_recall']:.3f} (x{ratio:.2f}), in-scope accuracy"
        f" {best['in_scope_accuracy']:.3f} vs {base['in_scope_accuracy']:.3f};"
        f" target OOS recall >= 0.7 at in-scope accuracy >= 0.9: {'met' if met else 'NOT met'}"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = {"rows": rows, "python": platform.python_version(), "machine": platform.machine()}
    name = "intents_tiny.json" if args.tiny else "intents.json"
    (RESULTS_DIR / name).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
