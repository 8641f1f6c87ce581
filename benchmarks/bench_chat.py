"""Chat turn latency with the models loaded: POST /api/v1/chat p50/p95 per flow, with today's intent detector
(before issue 18: the issue-6 seed and the similarity rule) and the new one (scope gate, trained on the seed,
the shipped examples and the demo tickets) in the same run, next to GET /health and an authenticated
GET /api/v1/users/me (targets: new p95 within 1.2x today's; chat turn p95 < 100 ms).

Run ``python -m benchmarks.bench_chat`` (CI: ``--tiny``, i.e. ``--rounds 1 --hash-encoder --no-embeddings``).
It builds a throw-away SQLite database with the demo data (users, catalog, published articles, ~260
tickets), the knowledge index (MiniLM, unless ``--hash-encoder``) and each detector in turn (promoted in the
registry, as the server would serve it), warms them, then times each kind of turn through the full HTTP stack
(FastAPI TestClient: validation, auth, session, commit). Every timed turn starts with an empty embedding
cache, so it pays for embedding its message as a real one does. Writes ``benchmarks/results/chat.json``
(``chat_tiny.json`` with ``--tiny``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="itsm-bench-chat-"))
os.environ["ITSM_DATABASE_URL"] = f"sqlite:///{_TMP / 'bench.db'}"
os.environ["ITSM_DATA_DIR"] = str(_TMP / "var")
os.environ["ITSM_MODELS_DIR"] = str(_TMP / "models")
os.environ.setdefault("ITSM_SECRET_KEY", "bench-secret-key-that-is-long-enough-for-hs256")
os.environ["ITSM_KNOWLEDGE_WARM_ON_STARTUP"] = "false"
os.environ["ITSM_CHAT_TRAIN_ON_STARTUP"] = "false"  # each detector is promoted by hand; no retraining mid-run

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
API = "/api/v1"

PROBLEMS = [
    "outlook keeps crashing when I open it",
    "my password expired and I am locked out",
    "the vpn disconnects every few minutes",
    "printer on the second floor is not printing",
    "my laptop is very slow since the update",
    "I can't access the shared drive",
]
QUESTIONS = [
    "how do I reset my password",
    "how can I connect to the vpn from home",
    "how to set up email on my phone",
]
REQUESTS = ["I need a new laptop", "can I get a second monitor", "I'd like a headset"]
SMALL = ["hello", "thanks", "what's the status of my tickets", "tell me a joke about pirates"]


def _percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples)
    return {
        "n": len(samples),
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
        "max_ms": round(float(arr.max()), 2),
    }


def _time(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    """Build the data, warm the models, time the turns, print and save the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="times each message is sent")
    parser.add_argument("--hash-encoder", action="store_true", help="knowledge index without MiniLM")
    parser.add_argument("--no-embeddings", action="store_true", help="TF-IDF-only intent detector")
    parser.add_argument(
        "--tiny", action="store_true", help="CI size: --rounds 1 --hash-encoder --no-embeddings"
    )
    if parser.parse_known_args(argv)[0].tiny:  # explicit options still win over the CI defaults
        parser.set_defaults(rounds=1, hash_encoder=True, no_embeddings=True)
    args = parser.parse_args(argv)
    if args.hash_encoder:
        os.environ["ITSM_KNOWLEDGE_ENCODER"] = "hash"
    if args.no_embeddings:
        os.environ["ITSM_CHAT_INTENT_EMBEDDINGS"] = "false"

    from fastapi.testclient import TestClient

    from benchmarks.bench_chat_scope import baseline_examples
    from itsm_ai.chat import detector as chat_detector
    from itsm_ai.chat.features import clear_embedding_cache
    from itsm_ai.chat.intents import IntentDetector
    from itsm_ai.config import get_settings
    from itsm_ai.database import get_session
    from itsm_ai.demo.load import load_demo
    from itsm_ai.knowledge.retrieval import service as retrieval
    from itsm_ai.main import create_app
    from itsm_ai.registry import store as registry

    start = time.perf_counter()
    counts = load_demo()
    print(f"demo data {counts} in {time.perf_counter() - start:.1f}s", flush=True)
    start = time.perf_counter()
    with get_session() as session:
        retrieval.get_service().ensure_ready(session)
    print(f"knowledge index ready in {time.perf_counter() - start:.1f}s", flush=True)
    embeddings = not args.no_embeddings

    def promote_today() -> dict:
        texts, labels = baseline_examples()
        det = IntentDetector(
            abstain="similarity",
            embeddings=embeddings,
            languages=None,
            max_word_features=None,
            max_char_features=200_000,
        ).fit(texts, labels)
        version = registry.save(det, name=chat_detector.MODEL_NAME, models_dir=get_settings().models_dir)
        registry.promote(chat_detector.MODEL_NAME, version, models_dir=get_settings().models_dir)
        return {"version": version, "threshold": det.threshold_, "n_examples": det.n_examples_}

    def promote_new() -> dict:
        with get_session() as session:
            trained = chat_detector.train(db_session=session)
        return {k: trained[k] for k in ("version", "threshold", "ask_threshold", "n_examples", "sources")}

    runs = {}
    with TestClient(create_app(start_worker=False)) as client:
        token = client.post(f"{API}/auth/token", data={"username": "alice", "password": "alice-demo-pw"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

        def turn(message: str, conversation_id=None) -> dict:
            r = client.post(
                f"{API}/chat", json={"conversation_id": conversation_id, "message": message}, headers=headers
            )
            assert r.status_code == 200, r.text
            return r.json()

        def cold_turn(message: str, conversation_id=None) -> dict:
            clear_embedding_cache()  # a real message was never embedded before
            return turn(message, conversation_id)

        health = _time(lambda: client.get("/health"), 200)
        me = _time(lambda: client.get(f"{API}/users/me", headers=headers), 200)
        groups = {"report_problem": PROBLEMS, "how_to": QUESTIONS, "request_item": REQUESTS, "other": SMALL}
        for name, promote in (("today", promote_today), ("new", promote_new)):
            start = time.perf_counter()
            info = promote()
            chat_detector.reset_detector()
            ready = time.perf_counter() - start
            print(f"{name}: detector {info['version']} ready in {ready:.1f}s", flush=True)
            for text in PROBLEMS + QUESTIONS + REQUESTS + SMALL:  # warm every path (loads, first encodes)
                turn(text)
            timings: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for group, texts in groups.items():
                    for text in texts:
                        timings.setdefault(group, []).extend(_time(lambda t=text: cold_turn(t), 1))
            # A follow-up turn: "no" after an answer opens an incident (create path, triage, audit, sync).
            follow, creates = [], []
            for text in PROBLEMS * max(1, args.rounds // 3):
                cid = turn(text)["conversation_id"]
                follow.extend(_time(lambda c=cid: turn("no", c), 1))
                # The same create path without the chat: what opening a ticket costs on its own.
                body = {"short_description": text, "description": text}
                creates.extend(
                    _time(lambda b=body: client.post(f"{API}/incidents", json=b, headers=headers), 1)
                )
            timings["feedback_no_opens_ticket"] = follow
            runs[name] = {"detector": info, "timings": timings, "creates": creates}

    rows = {
        "GET /health (baseline)": _percentiles(health),
        "GET /users/me (auth baseline)": _percentiles(me),
        "POST /incidents (create baseline)": _percentiles(runs["new"]["creates"]),
    }
    for name, run in runs.items():
        answers = [v for group, v in run["timings"].items() if group != "feedback_no_opens_ticket"]
        all_turns = [x for v in answers for x in v]
        rows.update({f"{name} chat: {group}": _percentiles(v) for group, v in run["timings"].items()})
        rows[f"{name} chat: all answer turns"] = _percentiles(all_turns)
    print(f"\n{'':44} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, row in rows.items():
        print(f"{name:44} {row['n']:>5} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}")
    today, p95 = rows["today chat: all answer turns"]["p95_ms"], rows["new chat: all answer turns"]["p95_ms"]
    base = rows["GET /users/me (auth baseline)"]["p95_ms"]
    ratio = p95 / max(today, 1e-9)
    print(
        f"\nnew chat turn p95 {p95} ms = {ratio:.2f}x today's ({today} ms; target <= 1.2x:"
        f" {'met' if ratio <= 1.2 else 'NOT met'}), {p95 / max(base, 1e-9):.1f}x an authenticated"
        f" GET /users/me ({base} ms); target < 100 ms: {'met' if p95 < 100 else 'NOT met'}"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = {
        "rows": rows,
        "detectors": {name: run["detector"] for name, run in runs.items()},
        "ratio_p95_new_to_today": round(ratio, 3),
        "embeddings": embeddings,
        "knowledge_encoder": "hash" if args.hash_encoder else "model",
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    name = "chat_tiny.json" if args.tiny else "chat.json"
    (RESULTS_DIR / name).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
