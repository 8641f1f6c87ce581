"""Incremental index update: time from a ticket's resolution (PATCH over HTTP) to its appearance in /similar.

A throw-away SQLite database gets `--background` resolved tickets (the demo's real ticket texts, repeated with
a suffix), the index is reconciled once (all of them embedded), then for each of `--rounds` new incidents:
PATCH it to resolved, then POST /similar with its text until it is among the results. Reported: PATCH
latency, the first /similar after the PATCH (it applies the queued change: one embedding + index add), the
whole resolution -> visible time, and as the baseline a /similar with nothing queued (same run).
The app runs in process (TestClient, real HTTP semantics through the ASGI stack).

Run: .venv/bin/python -m benchmarks.bench_incremental [--background 2000] [--rounds 30] [--encoder model|hash]
CI: ``--tiny`` = ``--background 50 --rounds 3 --encoder hash``.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_TICKETS = REPO_ROOT / "itsm_ai" / "demo" / "it_tickets_topics.csv"


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _ms(samples: list[float]) -> str:
    return f"p50 {1000 * statistics.median(samples):7.1f} ms   p95 {1000 * _p(samples, 0.95):7.1f} ms"


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--background", type=int, default=2000, help="resolved tickets already indexed")
    parser.add_argument("--rounds", type=int, default=30, help="tickets resolved and looked up")
    parser.add_argument("--encoder", choices=("model", "hash"), default="model")
    parser.add_argument(
        "--tiny", action="store_true", help="CI size: --background 50 --rounds 3 --encoder hash"
    )
    if parser.parse_known_args(argv)[0].tiny:  # explicit options still win over the CI defaults
        parser.set_defaults(background=50, rounds=3, encoder="hash")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    os.environ.update(
        {
            "ITSM_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
            "ITSM_DATA_DIR": str(work / "var"),
            "ITSM_SECRET_KEY": "bench-secret-key-that-is-long-enough-for-hs256",
            "ITSM_PASSWORD_HASH_TIME_COST": "1",
            "ITSM_PASSWORD_HASH_MEMORY_KIB": "1024",
            "ITSM_KNOWLEDGE_ENCODER": args.encoder,
            "ITSM_KNOWLEDGE_WARM_ON_STARTUP": "false",
        }
    )
    from fastapi.testclient import TestClient

    from itsm_ai.auth import service as auth_service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role
    from itsm_ai.config import get_settings
    from itsm_ai.database import get_session, utcnow
    from itsm_ai.knowledge.retrieval import service as retrieval
    from itsm_ai.main import create_app
    from itsm_ai.migrate import upgrade
    from itsm_ai.ticket.models import Incident

    get_settings.cache_clear()
    upgrade()
    with open(DEMO_TICKETS, encoding="utf-8") as fh:
        texts = [row["Document"] for row in csv.DictReader(fh) if row["Document"].strip()]
    now = utcnow()
    rows = [
        {
            "number": f"INC{9_000_000 + i}",
            "short_description": f"{texts[i % len(texts)][:80]} #{i}",
            "description": texts[i % len(texts)],
            "state": "resolved",
            "resolution_code": "solved",
            "resolution_notes": f"fix {i}",
            "impact": 3,
            "urgency": 3,
            "priority": 4,
            "version": 1,
            "opened_at": now,
            "resolved_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(args.background)
    ]
    with get_session() as session:
        if rows:
            session.execute(Incident.__table__.insert(), rows)
        auth_service.create(
            db_session=session,
            user_in=UserCreate(username="bench", role=Role.agent, password="bench-password"),
        )
    service = retrieval.get_service()
    started = time.perf_counter()
    with get_session() as session:
        service.ensure_ready(session)
    reconcile_s = time.perf_counter() - started
    print(
        f"encoder {service.encoder.model_name}; {len(service.index)} tickets indexed in {reconcile_s:.1f} s "
        f"({service.index.kind})"
    )

    create_s, patch_s, first_s, visible_s, base_s, tries = [], [], [], [], [], []
    with TestClient(create_app(start_worker=False)) as client:
        token = client.post("/api/v1/auth/token", data={"username": "bench", "password": "bench-password"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for i in range(args.rounds + 2):
            text = f"Badge reader {i} at gate {i * 7} rejects every card since the firmware update"
            t = time.perf_counter()
            inc = client.post(
                "/api/v1/incidents", headers=headers, json={"short_description": text, "description": text}
            ).json()
            created = time.perf_counter() - t
            query = {"text": text, "k": 5}
            client.post("/api/v1/similar", headers=headers, json=query)  # applies the create itself
            t = time.perf_counter()
            client.post("/api/v1/similar", headers=headers, json=query)
            baseline = time.perf_counter() - t
            t0 = time.perf_counter()
            r = client.patch(
                f"/api/v1/incidents/{inc['number']}",
                headers=headers,
                json={
                    "version": inc["version"],
                    "state": "resolved",
                    "resolution_code": "solved",
                    "resolution_notes": "Re-flashed the badge reader firmware.",
                },
            )
            assert r.status_code == 200, r.text
            t1 = time.perf_counter()
            n = 0
            while True:
                n += 1
                items = client.post("/api/v1/similar", headers=headers, json=query).json()["items"]
                if n == 1:
                    t_first = time.perf_counter() - t1
                if inc["number"] in [item["number"] for item in items]:
                    break
                if time.perf_counter() - t0 > 10:
                    raise SystemExit(f"{inc['number']} not visible after 10 s")
            t2 = time.perf_counter()
            if i < 2:
                continue  # warm-up rounds (model load, first bm25 build)
            create_s.append(created)
            base_s.append(baseline)
            patch_s.append(t1 - t0)
            first_s.append(t_first)
            visible_s.append(t2 - t0)
            tries.append(n)

    print(f"{args.rounds} resolutions over HTTP, {args.background} resolved tickets in the index")
    print(f"  POST incident (similar + duplicate) {_ms(create_s)}")
    print(f"  PATCH resolve                       {_ms(patch_s)}")
    print(f"  first /similar after it (applies)   {_ms(first_s)}")
    print(f"  resolution -> visible in /similar   {_ms(visible_s)}   (searches needed: max {max(tries)})")
    print(f"  baseline /similar, nothing queued   {_ms(base_s)}")
    ratio = statistics.median(first_s) / statistics.median(base_s)
    print(f"  first search after a change / baseline search: {ratio:.2f}x")
    return {
        "patch_p50_ms": 1000 * statistics.median(patch_s),
        "visible_p50_ms": 1000 * statistics.median(visible_s),
        "visible_p95_ms": 1000 * _p(visible_s, 0.95),
        "baseline_p50_ms": 1000 * statistics.median(base_s),
    }


if __name__ == "__main__":
    main()
