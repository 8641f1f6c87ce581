"""Virtual agent scope on real traffic: of real ticket titles no detector was trained on, the share the chat
refuses as out of scope (target <= 5%; the detector before issue 18 refused about 40%) or asks about, and of
CLINC150's out-of-scope test queries the share it still refuses (target >= 85%). Today's detector and the new
one side by side in the same run, on a fresh instance (no tickets) and on one with imported history.

Run ``python -m benchmarks.bench_chat_scope`` (``--tiny`` for CI: small slices, TF-IDF only, the new detector
fitted once, and a "skipped" message without the data sets; ``--dev`` scores the development part instead of
the held-out one). Writes ``results/chat_scope.json``.

Protocol. ticket_assignment.csv (no licence: read from ../shared/data, never shipped) and
it_tickets_topics.csv are split per row by a hash of the file name and row number: 20% held out (no detector
ever trains on it), 20% a development part (scored only with ``--dev``; used while building the detector), the
rest is the imported history. it_tickets_topics' first 400 rows ship as demo data (every new detector learns
from them) and are never held out. A held-out title is an incident's short description (ticket_assignment) or
the first 80 characters of the document (it_tickets_topics: subject first; its publisher removed stop
words); titles equal, case and spacing aside, to a training text of the detector scored are dropped.
CLINC150: oos_train and the in-domain ``train`` queries of its non-IT intents ship with the project and may
be trained on (the ``val`` and ``test`` splits never are), oos_test is scored once, oos_val only with
``--dev``.
MiniLM vectors are cached in ``results/`` apart for the training texts and for the evaluated ones.

Detectors:
- today: the detector before issue 18 (the issue-6 seed kept in ``benchmarks/data``; out of scope = calibrated
  confidence mixed with nearest-example similarity, threshold keeping 95% of validation in-scope examples). It
  learned only from the seed and confirmed chat messages, so it is the same on both instances.
- new, fresh: what ``itsm_ai.chat.detector.train`` learns from an empty store (seed, CLINC150's oos_train,
  the demo tickets, and the training queries of its 111 non-IT in-domain intents when
  ``detector.CLINC_PER_INTENT`` > 0; ``shipped_examples``).
- new, history: the same plus the history part's incidents, as ``ticket_texts`` makes them (title and the
  opening of the description), at most ``ITSM_CHAT_TRAIN_MAX_TICKETS`` (a seeded sample).
Measured 2026-12-06 (held-out part, MiniLM, busy machine), with the scope gate's nearest-example inputs at
weight 0.5 and the refuse / ask quantiles at 1.5% / 4% (chosen on ``--dev``, below): titles refused today
59.0%, new fresh 0.6% (asked 3.0%), new history 0.6% (asked 1.4%); CLINC150 oos_test refused today 94.1%, new
fresh 89.7% (asked 4.4%), new history 91.1% (asked 4.8%). Before (no nearest-example inputs, 3% / 5%): titles
0.7% / 0.7%, oos_test 84.9% fresh / 87.8% history; at the earlier 1% quantile 79.7% / 80.2%. decide() p95 on a
busy machine, new vs old settings interleaved in one process: fresh (v0004 vs v0003) 5.6 vs 5.3 ms (x1.06);
with history 13.5 vs 10.5 ms (x1.29: the nearest-example search over ~9,000 examples; not yet within 1.2x);
this run's own line, against the issue-6 detector: x1.25 fresh, x1.37 history (load 8-10 on 2 cores).
How it was chosen (``--dev``, plus the out-of-fold gate scores of CLINC's oos_train, which the detector trains
on: 200 out-of-scope queries; refused dev titles / out-of-scope queries, fresh instance): without
nearest-example inputs, quantile 1% 0.3% / 91.5%, 3% 0.6% / 93.5%, 5% 1.6-1.8% / 95.5%, 7% 2.9% / 96.5%; with
them at weight 0.3, 1% 0.7% / 93.0%, 2% 1.4% / 95.0%; weight 0.5, 1.5% 1.2% / 95.5% (kept: the most refused
out of scope at about 1% of titles); weight 1, 1% 1.8-2.2% / 96.5%, 3% 4.2% / 98.0%. Not kept: CLINC's non-IT
in-domain training queries as out-of-scope examples, also weighed as a source of their own
(``oos_weight_power`` 0: 3% 1.9% / 95.0%; by count as before, at 3%: 2.3% and 89% of oos_val), a gate C of 1
or 16 (no change), MiniLM weighed 2 or 3 (worse), neighbours from other folds only (no better), intents
weighed by count (refuses more status and how-to questions). The ``--dev`` run of these defaults: titles
refused fresh 1.2% (asked 2.7%), history 0.6% (1.6%); oos_val refused fresh 93%, history 94%.
"Refused" is the polite decline; "asked" is "Is this a problem you want help with?"; "language" counts
messages sent to the problem flow because the models do not cover their language.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks._classify_data import DATA_DIR, RESULTS_DIR, cached_embeddings  # noqa: E402
from itsm_ai.chat import detector as chat_detector  # noqa: E402
from itsm_ai.chat.features import embed, prime_embeddings  # noqa: E402
from itsm_ai.chat.intents import DecisionKind, IntentDetector  # noqa: E402
from itsm_ai.chat.text import first_description, normalise  # noqa: E402
from itsm_ai.config import get_settings  # noqa: E402

BASELINE_SEED = Path(__file__).resolve().parent / "data" / "chat_intents_seed_issue6.json"
DEMO_ROWS = 400  # it_tickets_topics' rows shipped in itsm_ai/demo/
TITLE_CHARS = 80


def bucket(name: str, row: int) -> str:
    """The fixed part of a row: held_out (20%), dev (20%) or history (60%)."""
    b = int(hashlib.sha256(f"{name}:{row}".encode()).hexdigest(), 16) % 10
    return "held_out" if b < 2 else "dev" if b < 4 else "history"


def load_tickets() -> dict[str, list[dict]]:
    """Both ticket files as rows {source, title, description} per part."""
    parts: dict[str, list[dict]] = {"held_out": [], "dev": [], "history": []}
    assignment = pd.read_csv(DATA_DIR / "ticket_assignment.csv")
    columns = zip(assignment["Short description"], assignment["Description"], strict=True)
    for i, (short, desc) in enumerate(columns):
        parts[bucket("ticket_assignment", i)].append(
            {
                "source": "ticket_assignment",
                "title": normalise(short) if isinstance(short, str) else "",
                "description": desc if isinstance(desc, str) else "",
            }
        )
    topics = pd.read_csv(DATA_DIR / "it_tickets_topics.csv")
    for i, doc in enumerate(topics["Document"]):
        if i < DEMO_ROWS:
            continue  # shipped demo rows: every new detector learns them as bundled tickets already
        doc = doc if isinstance(doc, str) else ""
        parts[bucket("it_tickets_topics", i)].append(
            {"source": "it_tickets_topics", "title": first_description(doc, TITLE_CHARS), "description": doc}
        )
    return parts


def baseline_examples() -> tuple[list[str], list[str]]:
    """The issue-6 seed: its intents and out-of-scope lines."""
    return chat_detector.load_seed(BASELINE_SEED)


def history_examples(rows: list[dict], max_tickets: int, seed: int = 0) -> list[tuple[str, str]]:
    """The history's incidents as report-a-problem examples, as the store would give them."""
    rng = np.random.RandomState(seed)
    if len(rows) > max_tickets:
        rows = [rows[i] for i in sorted(rng.choice(len(rows), max_tickets, replace=False))]
    return [
        (text, "report_problem")
        for r in rows
        for text in chat_detector.ticket_texts(r["title"], r["description"])
    ]


def prime_cached(train_texts: list[str], eval_texts: list[str]) -> int:
    """Load (or encode and save) the MiniLM vectors of the training and the evaluated texts, cached apart so
    that the development and the held-out runs share the training set's; returns how many texts."""
    train_every = sorted(set(train_texts))
    eval_every = sorted(set(eval_texts) - set(train_every))
    for every, tag in ((train_every, "chat_scope_train"), (eval_every, "chat_scope_eval")):
        if every:
            prime_embeddings(every, cached_embeddings(every, tag=tag, encode=embed))
    return len(train_every) + len(eval_every)


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _share(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None


def score(det: IntentDetector, trained_on: list[str], eval_sets: dict[str, list[str]]) -> dict:
    """Refused / asked / language shares per evaluation set, never counting a text trained on."""
    seen = {_key(t) for t in trained_on}
    out = {}
    for name, texts in eval_sets.items():
        kept = [t for t in dict.fromkeys(texts) if t and _key(t) not in seen]
        decisions = det.decide(kept)
        refused = [d.kind == DecisionKind.out_of_scope for d in decisions]
        out[name] = {
            "n": len(kept),
            "refused": _share(refused),
            "asked": _share([d.kind == DecisionKind.unsure for d in decisions]),
            "language": _share([d.language is not None for d in decisions]),
            "refused_examples": [t for t, r in zip(kept, refused, strict=True) if r][:8],
        }
    titles = [out[k] for k in ("ticket_assignment", "it_tickets_topics") if k in out and out[k]["n"]]
    total = sum(r["n"] for r in titles)
    out["all_titles"] = {
        "n": total,
        "refused": round(sum(r["refused"] * r["n"] for r in titles) / total, 4) if total else None,
        "asked": round(sum(r["asked"] * r["n"] for r in titles) / total, 4) if total else None,
    }
    return out


def latency(det: IntentDetector, texts: list[str], n: int = 300) -> dict:
    """Single-message decide() p50/p95 in ms (embeddings cached, as after the first encode)."""
    samples = []
    for text in texts[:n]:
        start = time.perf_counter()
        det.decide([text])
        samples.append((time.perf_counter() - start) * 1000)
    return {f"p{q}_ms": round(float(np.percentile(samples, q)), 2) for q in (50, 95)}


def main(argv: list[str] | None = None) -> int:
    """Fit the detectors, score them, print the table and save the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small slices, TF-IDF only (CI)")
    parser.add_argument("--dev", action="store_true", help="score the development part and oos_val")
    parser.add_argument("--no-embeddings", action="store_true", help="TF-IDF-only detectors")
    parser.add_argument(
        "--no-history", action="store_true", help="skip the imported-history detector (its fit and vectors)"
    )
    args = parser.parse_args(argv)
    clinc_path = DATA_DIR / "clinc150_intents_oos.json"
    if not (DATA_DIR / "ticket_assignment.csv").exists() or not clinc_path.exists():
        if args.tiny:  # these data sets are not shipped with the repository: nothing to measure in CI
            print(f"skipped: ticket_assignment.csv or clinc150_intents_oos.json not found in {DATA_DIR}")
            return 0
        print(f"data not found in {DATA_DIR}", file=sys.stderr)
        return 2
    embeddings = not (args.tiny or args.no_embeddings)
    settings = get_settings()
    parts = load_tickets()
    clinc = json.loads(clinc_path.read_text())
    evaluated = parts["dev" if args.dev else "held_out"]
    oos_eval = [t for t, _ in clinc["oos_val" if args.dev else "oos_test"]]
    history_rows = parts["history"]
    max_tickets = settings.chat_train_max_tickets
    if args.tiny:
        evaluated = evaluated[::8]
        oos_eval = oos_eval[::6]
        max_tickets = 400
    eval_sets = {
        "ticket_assignment": [r["title"] for r in evaluated if r["source"] == "ticket_assignment"],
        "it_tickets_topics": [r["title"] for r in evaluated if r["source"] == "it_tickets_topics"],
        "clinc_oos": oos_eval,
    }

    base_texts, base_labels = baseline_examples()
    shipped = chat_detector.shipped_examples()
    fresh_texts, fresh_labels, fresh_sources = chat_detector.assemble(shipped)
    history = history_examples(history_rows, max_tickets)
    hist_texts, hist_labels, hist_sources = chat_detector.assemble(
        [("seed", shipped[0][1]), ("tickets", history), *shipped[1:]]
    )
    print(
        f"held-out titles: {len(eval_sets['ticket_assignment'])} ticket_assignment +"
        f" {len(eval_sets['it_tickets_topics'])} it_tickets_topics; CLINC150 out-of-scope: {len(oos_eval)};"
        f" fresh training set {fresh_sources}; history {hist_sources}",
        flush=True,
    )
    if embeddings:
        start = time.perf_counter()
        trained = [*base_texts, *fresh_texts, *([] if args.no_history else hist_texts)]
        n = prime_cached(trained, [t for v in eval_sets.values() for t in v])
        print(f"MiniLM vectors of {n} texts ready in {time.perf_counter() - start:.0f}s", flush=True)

    def new_detector() -> IntentDetector:
        return chat_detector.make_detector().set_params(embeddings=embeddings)

    variants = [
        (
            "today (issue-6 seed, similarity rule)",
            IntentDetector(
                abstain="similarity",
                embeddings=embeddings,
                languages=None,
                max_word_features=None,
                max_char_features=200_000,
                in_scope_recall=0.95,
            ),
            base_texts,
            base_labels,
        ),
        ("new, fresh instance", new_detector(), fresh_texts, fresh_labels),
    ]
    # The CI run fits the new detector once: the fit is most of its time.
    if not (args.tiny or args.no_history):
        variants.append(("new, imported history", new_detector(), hist_texts, hist_labels))
    rows = []
    for name, det, texts, labels in variants:
        start = time.perf_counter()
        det.fit(texts, labels)
        fit_s = time.perf_counter() - start
        row = {"detector": name, "n_train": len(texts), "fit_seconds": round(fit_s, 1)}
        row.update(score(det, texts, eval_sets))
        row["latency"] = latency(det, eval_sets["ticket_assignment"] + eval_sets["clinc_oos"])
        rows.append(row)
        t, c = row["all_titles"], row["clinc_oos"]
        print(
            f"{name:<40} titles refused {t['refused']:.3f} asked {t['asked']:.3f} (n={t['n']}; assignment"
            f" {row['ticket_assignment']['refused']:.3f}, topics {row['it_tickets_topics']['refused']:.3f})"
            f" | CLINC oos refused {c['refused']:.3f} asked {c['asked']:.3f}"
            f" | decide p95 {row['latency']['p95_ms']} ms | fit {fit_s:.0f}s",
            flush=True,
        )
    today = rows[0]
    print()
    for row in rows[1:]:
        titles, oos = row["all_titles"]["refused"], row["clinc_oos"]["refused"]
        ratio = row["latency"]["p95_ms"] / max(today["latency"]["p95_ms"], 1e-9)
        print(
            f"{row['detector']}: refuses {titles:.1%} of real titles"
            f" (today {today['all_titles']['refused']:.1%}; target <= 5%:"
            f" {'met' if titles <= 0.05 else 'NOT met'}), refuses {oos:.1%} of CLINC150"
            f" out-of-scope (today {today['clinc_oos']['refused']:.1%}; target >= 85%:"
            f" {'met' if oos >= 0.85 else 'NOT met'}); decide p95 x{ratio:.2f} today's"
        )
    if args.tiny:
        print("(--tiny: small slices and TF-IDF only; the targets apply to the full run)")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = {
        "rows": rows,
        "split": "dev" if args.dev else "held_out",
        "tiny": args.tiny,
        "embeddings": embeddings,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    name = "chat_scope_tiny.json" if args.tiny else "chat_scope_dev.json" if args.dev else "chat_scope.json"
    (RESULTS_DIR / name).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
