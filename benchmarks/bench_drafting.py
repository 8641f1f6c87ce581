"""Knowledge-article drafting from real Q&A: askubuntu and webapps questions with accepted answers (HTML).

Each intent is a cluster of resolved "tickets" (question = short description and description, accepted
answer = resolution notes). For every intent we draft an article with ``ExtractiveDrafter`` and report
size, coverage (share of source answers backing a step), confidence, drafting time and checks (no HTML,
no personal data left). Then a usefulness check on the data set's own split: articles drafted from the
``training`` questions only, and each held-out question routed to an article by BM25 over the article
text; top-1 accuracy of landing on its intent's article, against articles made of all raw answers.
A few drafts are printed next to their sources.

Run: .venv/bin/python -m benchmarks.bench_drafting (``--tiny`` for CI: the webapps file only, no drafts
printed; it skips with a message when the Q&A files are absent, as they are not shipped with the repository).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time

import numpy as np

from benchmarks._knowledge_data import DATA_DIR, load_qa, print_table, qa_clusters, write_results
from itsm_ai.knowledge.drafting.extractive import Draft, ExtractiveDrafter
from itsm_ai.knowledge.drafting.pii import contains_pii
from itsm_ai.knowledge.drafting.text import html_to_text, looks_like_html
from itsm_ai.knowledge.retrieval.lexical import LexicalIndex

FILES = ("askubuntu_qa_intents.json", "webapps_qa_intents.json")
SHOW = ("Shutdown Computer", "Delete Account", "Change Password")


def article_text(draft: Draft) -> str:
    """The searchable text of a draft."""
    return "\n".join([draft.title, draft.symptoms, draft.cause or "", *draft.resolution_steps])


def draft_all(
    drafter: ExtractiveDrafter, files: tuple[str, ...] = FILES
) -> tuple[list[list], dict[str, tuple[Draft, list[dict]]]]:
    """Draft one article per intent of the files; returns table rows and the drafts with their sources."""
    rows, drafts = [], {}
    drafter.draft(next(iter(qa_clusters(files[0]).values())))  # warm-up: the first call imports scikit-learn
    for name in files:
        for intent, tickets in sorted(qa_clusters(name).items()):
            start = time.perf_counter()
            draft = drafter.draft(tickets)
            seconds = time.perf_counter() - start
            text = article_text(draft)
            rows.append(
                [
                    name.split("_")[0],
                    intent,
                    len(tickets),
                    len(draft.resolution_steps),
                    draft.coverage,
                    draft.confidence,
                    seconds * 1e3,
                    looks_like_html(text),
                    contains_pii(text),
                ]
            )
            drafts[intent] = (draft, tickets)
    return rows, drafts


def routing_check(drafter: ExtractiveDrafter, files: tuple[str, ...] = FILES) -> dict[str, float]:
    """Held-out question -> article accuracy: drafts vs articles made of all raw training answers."""
    out = {}
    for name in files:
        items = [it for it in load_qa(name) if it.get("intent") not in (None, "None")]
        train = [it for it in items if it.get("training") and (it.get("answer") or {}).get("text")]
        test = [it for it in items if not it.get("training")]
        intents = sorted({it["intent"] for it in train})
        by_intent = {
            i: [
                {
                    "number": str(k),
                    "short_description": it["text"],
                    "description": it["text"],
                    "resolution_notes": it["answer"]["text"],
                }
                for k, it in enumerate(train)
                if it["intent"] == i
            ]
            for i in intents
        }
        systems = {
            "drafted article": {i: article_text(drafter.draft(t)) for i, t in by_intent.items()},
            "all raw answers": {
                i: "\n".join(f"{t['short_description']}\n{html_to_text(t['resolution_notes'])}" for t in ts)
                for i, ts in by_intent.items()
            },
        }
        for system, articles in systems.items():
            index = LexicalIndex()
            index.add_many(range(len(intents)), [articles[i] for i in intents])
            hits = [index.search(it["text"], 1) for it in test if it["intent"] in intents]
            gold = [intents.index(it["intent"]) for it in test if it["intent"] in intents]
            acc = float(np.mean([bool(h) and h[0][0] == g for h, g in zip(hits, gold, strict=True)]))
            out[f"{name.split('_')[0]} / {system}"] = acc
            words = np.mean([len(a.split()) for a in articles.values()])
            out[f"{name.split('_')[0]} / {system} / mean words"] = float(words)
        out[f"{name.split('_')[0]} / held-out questions"] = len(gold)
    return out


def show(drafts: dict[str, tuple[Draft, list[dict]]], intent: str, sources: int = 3) -> None:
    """Print a draft next to a few of its source answers."""
    draft, tickets = drafts[intent]
    print(f"\n{'=' * 100}\nINTENT: {intent} ({len(tickets)} sources)\n{'-' * 100}")
    print(draft.to_markdown())
    print(
        f"(coverage {draft.coverage}, confidence {draft.confidence})\n{'-' * 100}\nSOURCES (first {sources}):"
    )
    for t in tickets[:sources]:
        answer = textwrap.shorten(html_to_text(t["resolution_notes"]), 400, placeholder=" ...")
        print(f"* {t['number']}: {t['short_description']}\n    {answer}")


def main(argv: list[str] | None = None) -> int:
    """Draft every intent, run the routing check, print drafts, write results JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--show", default=",".join(SHOW), help="intents whose drafts are printed")
    parser.add_argument("--tiny", action="store_true", help="CI size: the webapps file, no drafts printed")
    args = parser.parse_args(argv)
    files = FILES[1:] if args.tiny else FILES
    missing = [name for name in files if not (DATA_DIR / name).is_file()]
    if missing:
        print(f"skipped: {', '.join(missing)} not found in {DATA_DIR}")
        return 0 if args.tiny else 2
    if args.tiny:
        args.show = ""
    drafter = ExtractiveDrafter()
    rows, drafts = draft_all(drafter, files)
    print_table(
        ["file", "intent", "sources", "steps", "coverage", "confidence", "ms", "html left", "pii left"],
        rows,
        title="extractive drafts per intent",
    )
    routing = routing_check(drafter, files)
    print_table(["check", "value"], list(routing.items()), title="held-out question -> article (BM25 top-1)")
    for name in files:
        source = name.split("_")[0]
        drafted, raw = routing[f"{source} / drafted article"], routing[f"{source} / all raw answers"]
        print(f"{source}: top-1 ratio drafted / raw answers {drafted / max(raw, 1e-9):.2f}")
    for intent in args.show.split(","):
        if intent in drafts:
            show(drafts, intent)
    write_results(
        "bench_drafting_tiny" if args.tiny else "bench_drafting",
        {
            "drafts": [
                dict(
                    zip(
                        [
                            "file",
                            "intent",
                            "sources",
                            "steps",
                            "coverage",
                            "confidence",
                            "ms",
                            "html_left",
                            "pii_left",
                        ],
                        r,
                        strict=True,
                    )
                )
                for r in rows
            ],
            "routing": routing,
            "examples": {i: drafts[i][0].to_dict() for i in args.show.split(",") if i in drafts},
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
