"""Load test with locust on the multi-process deployment: 2 API processes + 1 worker on one PostgreSQL.

    python -m benchmarks.bench_load [--tiny] [--users N] [--seconds S] [--kill] [--pg-database NAME]
        [--spawn-rate R] [--think F]

Agents list, filter, read and update incidents; requesters create incidents and chat with the virtual agent
(benchmarks/_locustfile.py). Every acknowledged write (a 201 create, a 200 update) is written down and looked
up in the database afterwards; every webhook delivery (a subscription on incident.created, received by a small
HTTP server here) is counted by its X-ITSM-Delivery id. `--kill` sends SIGKILL to one API process and to the
worker in the middle of the load and starts them again.

Baseline (same run): each endpoint's latency with one sequential client before the load; the figure line
gives the p95 under load as a multiple of it. `--tiny` (CI): 6 users for 15 s. Full: 100 users for 300 s.

The users keep a service desk's pace (the locustfile's docstring: an agent acts every 5-15 s, a requester
every 10-30 s; `--think 0` for back-to-back requests, a stress test) and start over 50 s (people sign in over
time; 100 argon2 logins inside 10 s are a burst of CPU no desk produces). The chat intent detector is trained
once into the cluster's models folder before the API processes start, as in a deployment (without it each
process trains its own copy while being measured). Runs shorter than 2 minutes (--tiny, the kill test's 40 s)
keep the first runs' quick pace (think x0.2: agents every 1-3 s, requesters every 2-6 s), so a few users still
write enough to check, and skip the training, which would outlast them.

PostgreSQL database `bench_load` on 127.0.0.1:5432 (user postgres; created when missing, its public schema
dropped and recreated). Results: benchmarks/results/load.json (load_tiny.json for --tiny).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PG_HOST = "127.0.0.1:5432"
PASSWORD = "load-test-password-1"
WORK = Path(tempfile.mkdtemp(prefix="itsm-load-"))
# Runs shorter than this keep a quick pace and skip the chat training (see the docstring).
SHORT_RUN_SECONDS = 120


class Receiver:
    """A webhook receiver on 127.0.0.1 counting deliveries by their X-ITSM-Delivery id."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        lock, seen = threading.Lock(), self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    seen[self.headers.get("X-ITSM-Delivery", "?")] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def prepare(url: str, *, agents: int, requesters: int) -> dict[str, list[str]]:
    """A fresh schema, the users, 400 demo incidents and a webhook subscription; returns the usernames."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"postgresql://postgres@{PG_HOST}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(f"postgresql://postgres@{PG_HOST}/{name}", autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")

    from itsm_ai import all_models  # noqa: F401
    from itsm_ai.auth import service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role
    from itsm_ai.data.importer import import_csv
    from itsm_ai.database import get_session
    from itsm_ai.migrate import upgrade

    upgrade()
    names = {
        "agents": [f"agent{i}" for i in range(agents)],
        "requesters": [f"req{i}" for i in range(requesters)],
    }
    with get_session() as session:
        for role, group in ((Role.agent, "agents"), (Role.requester, "requesters")):
            for username in names[group]:
                user_in = UserCreate(username=username, role=role, password=PASSWORD)
                service.create(db_session=session, user_in=user_in, actor=None)
    csv_path = REPO / "itsm_ai" / "demo" / "it_tickets_topics.csv"
    import_csv(
        path=csv_path, mapping={"short_description": "Document", "category": "Topic_group"}, skip_bad=True
    )
    return names


def subscribe(receiver_url: str) -> None:
    """A webhook subscription on incident.created to the receiver."""
    from itsm_ai.database import get_session
    from itsm_ai.webhooks.models import WebhookSubscription

    with get_session() as session:
        session.add(
            WebhookSubscription(
                name="load", url=receiver_url, secret="load-secret", event_types=["incident.created"]
            )
        )


def train_chat(cluster: Any) -> None:
    """Train the virtual agent's intent detector once into the cluster's models folder, as a deployment has.

    Without it each API process trains its own copy at start-up (minutes of CPU on this machine) while the
    baseline and the load run: the first runs measured that training, not the requests.
    """
    subprocess.run(
        [sys.executable, "-m", "itsm_ai.cli", "chat", "train"],
        cwd=REPO,
        env=cluster.env("chat-train"),
        check=True,
        capture_output=True,
        timeout=1800,
    )


def baseline(hosts: list[str], agent: str, requester: str, rounds: int) -> dict[str, float]:
    """Median latency (ms) of each request kind with one sequential client and no other load."""
    import httpx

    def token(user: str) -> dict[str, str]:
        r = httpx.post(
            f"{hosts[0]}/api/v1/auth/token", data={"username": user, "password": PASSWORD}, timeout=60
        )
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    agent_h, req_h = token(agent), token(requester)
    times: dict[str, list[float]] = {}

    def timed(name: str, method: str, url: str, headers: dict, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        r = httpx.request(method, url, headers=headers, timeout=60, **kwargs)
        times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return r

    for i in range(rounds):
        host = hosts[i % len(hosts)]
        timed("GET /health", "GET", f"{host}/health", {})
        page = timed("GET /incidents", "GET", f"{host}/api/v1/incidents?limit=25", agent_h).json()["items"]
        timed("GET /incidents?state", "GET", f"{host}/api/v1/incidents?state=new&limit=25", agent_h)
        timed("GET /incidents/{n}", "GET", f"{host}/api/v1/incidents/{page[0]['number']}", agent_h)
        body = {"short_description": "baseline: printer jams", "description": "baseline"}
        timed("POST /incidents", "POST", f"{host}/api/v1/incidents", req_h, json=body)
    return {name: statistics.median(values) for name, values in times.items()}


def run_locust(
    hosts: list[str],
    names: dict[str, list[str]],
    *,
    users: int,
    seconds: int,
    prefix: Path,
    spawn_rate: float,
    think: float,
) -> None:
    """Run locust headless (its own process) for `seconds` with `users` users."""
    env = {
        **os.environ,
        "ITSM_LOAD_HOSTS": ",".join(hosts),
        "ITSM_LOAD_AGENTS": ",".join(names["agents"]),
        "ITSM_LOAD_REQUESTERS": ",".join(names["requesters"]),
        "ITSM_LOAD_PASSWORD": PASSWORD,
        "ITSM_LOAD_ACKS": str(prefix.with_name("acks.jsonl")),
        "ITSM_LOAD_THINK": str(think),
    }
    args = [
        sys.executable, "-m", "locust", "-f", str(REPO / "benchmarks" / "_locustfile.py"), "--headless",
        "-u", str(users), "-r", str(spawn_rate), "-t", f"{seconds}s", "--host", hosts[0],
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "30",
    ]  # fmt: skip
    with prefix.with_name("locust.log").open("w") as out:
        subprocess.run(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=seconds + 300
        )


def read_stats(prefix: Path) -> dict[str, dict[str, float]]:
    """Per-endpoint count, failures, p50 and p95 (ms) from locust's CSV."""
    out = {}
    with prefix.with_name(prefix.name + "_stats.csv").open() as f:
        for row in csv.DictReader(f):
            name = f"{row['Type']} {row['Name']}".strip() if row["Name"] != "Aggregated" else "Aggregated"
            out[name] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"] or 0),
                "p95_ms": float(row["95%"] or 0),
            }
    return out


def read_failures(prefix: Path) -> list[dict[str, str]]:
    """Locust's failures: method, name, error and occurrences."""
    path = prefix.with_name(prefix.name + "_failures.csv")
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def verify(acks_path: Path, receiver: Receiver, *, settle_seconds: float) -> dict[str, Any]:
    """Every acknowledged write in the database; every webhook delivery delivered once."""
    from sqlalchemy import select

    from itsm_ai.audit.models import AuditEvent
    from itsm_ai.database import get_session
    from itsm_ai.ticket.models import Incident
    from itsm_ai.webhooks.models import WebhookDelivery

    acks = [json.loads(line) for line in acks_path.read_text().splitlines() if line.strip()]
    creates = [a for a in acks if a["kind"] == "create"]
    updates = [a for a in acks if a["kind"] == "update"]
    with get_session() as session:
        stored = {row[0]: row[1] for row in session.execute(select(Incident.number, Incident.description))}
        described = list(
            session.execute(
                select(AuditEvent.old_value, AuditEvent.new_value).where(
                    AuditEvent.record_type == "incident", AuditEvent.field == "description"
                )
            )
        )
    noted = {new for _old, new in described if new}
    replaced = {old for old, _new in described if old}
    # A create's text may have been replaced by an agent's update since: then the audit holds it as old value.
    lost_creates = [
        a
        for a in creates
        if a["number"] not in stored
        or (stored[a["number"]] != f"load {a['token']}" and f"load {a['token']}" not in replaced)
    ]
    lost_updates = [a for a in updates if f"agent note {a['token']}" not in noted]
    # The worker delivers what the load created; give it time to drain the outbox.
    deadline = time.monotonic() + settle_seconds
    while True:
        with get_session() as session:
            rows = list(session.execute(select(WebhookDelivery.id, WebhookDelivery.status)))
        pending = [i for i, s in rows if s == "pending"]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1)
    delivered = {str(i) for i, s in rows if s == "delivered"}
    received = receiver.seen
    return {
        "acknowledged_creates": len(creates),
        "acknowledged_updates": len(updates),
        "lost_creates": len(lost_creates),
        "lost_updates": len(lost_updates),
        "webhook_deliveries": len(rows),
        "webhook_pending": len(pending),
        "webhook_not_delivered": len([i for i, s in rows if s != "delivered"]),
        "webhook_delivered_not_received": len(delivered - set(received)),
        "webhook_received_twice": sum(1 for n in received.values() if n > 1),
        "webhook_received_most": max(received.values(), default=0),
        "webhook_received_unknown": len(set(received) - {str(i) for i, _ in rows}),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the load and print p50/p95 per endpoint, errors and the acknowledged-write check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="6 users for 15 s (CI).")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--kill", action="store_true", help="kill -9 an API process and the worker midway.")
    parser.add_argument("--pg-database", default="bench_load")
    parser.add_argument(
        "--spawn-rate", type=float, default=None, help="Users started per second (default: all in 50 s)."
    )
    parser.add_argument(
        "--think",
        type=float,
        default=None,
        help="Scale of the users' think times (default 1: a service desk's pace; 0.2 under 120 s; "
        "0: back to back, a stress test).",
    )
    parser.add_argument("--results", type=Path, default=None, help="Where to write the results (JSON).")
    args = parser.parse_args(argv)
    users = args.users or (6 if args.tiny else 100)
    seconds = args.seconds or (15 if args.tiny else 300)
    url = f"postgresql+psycopg://postgres@{PG_HOST}/{args.pg_database}"
    try:
        import psycopg

        psycopg.connect(f"postgresql://postgres@{PG_HOST}/postgres", connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - no server here: nothing to measure
        print(f"skipped: no PostgreSQL at {PG_HOST} ({type(exc).__name__})")
        return {}
    os.environ.update({"ITSM_DATABASE_URL": url, "ITSM_DATA_DIR": str(WORK / "var")})
    from itsm_ai.config import get_settings

    get_settings.cache_clear()
    from benchmarks._cluster import Cluster

    names = prepare(url, agents=max(2, users // 10), requesters=max(2, users // 5))
    receiver = Receiver()
    subscribe(receiver.url)
    extra = {"ITSM_WEBHOOKS_ALLOW_PRIVATE": "true", "ITSM_TRAINING_LEASE_SECONDS": "5"}
    results: dict[str, Any] = {"users": users, "seconds": seconds, "kill": args.kill}
    results["spawn_rate"] = args.spawn_rate or (users if args.tiny else max(1.0, users / 50))
    short = seconds < SHORT_RUN_SECONDS
    results["think"] = args.think if args.think is not None else (0.2 if short else 1.0)
    with Cluster(database_url=url, root=WORK / "cluster", extra_env=extra) as cluster:
        if not short:  # the training alone would be longer than a short run
            train_chat(cluster)
        apis = [cluster.start_api("api-1"), cluster.start_api("api-2")]
        cluster.start_worker("worker")
        hosts = [p.url for p in apis]
        base = baseline(hosts, names["agents"][0], names["requesters"][0], rounds=5 if args.tiny else 20)
        prefix = WORK / "locust"
        killer = None
        if args.kill:

            def kill_midway() -> None:
                time.sleep(seconds / 2)
                cluster.kill("api-2")
                cluster.kill("worker")
                time.sleep(1)
                # Started again on the same port: users of the killed process get errors until it is back.
                restarted = cluster.start_api("api-2", port=apis[1].port)
                cluster.start_worker("worker")
                results["restarted"] = restarted.url

            killer = threading.Thread(target=kill_midway, daemon=True)
            killer.start()
        started = time.monotonic()
        run_locust(
            hosts,
            names,
            users=users,
            seconds=seconds,
            prefix=prefix,
            spawn_rate=results["spawn_rate"],
            think=results["think"],
        )
        results["wall_seconds"] = round(time.monotonic() - started, 1)
        if killer is not None:
            killer.join(120)
        stats = read_stats(prefix)
        results["failures"] = read_failures(prefix)
        results["verify"] = verify(prefix.with_name("acks.jsonl"), receiver, settle_seconds=60)
    receiver.close()
    results["baseline_ms"] = base
    results["endpoints"] = stats
    killed = " (kill -9 midway)" if args.kill else ""
    print(
        f"{users} users, {seconds} s, 2 API processes + 1 worker on PostgreSQL{killed}; "
        f"think x{results['think']}, {results['spawn_rate']} users started per second"
    )
    print(f"{'endpoint':34} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'base ms':>8}")
    for name, row in sorted(stats.items()):
        base_ms = base.get(name)
        print(
            f"{name:34} {row['requests']:8d} {row['failures']:6d} {row['p50_ms']:8.0f} {row['p95_ms']:8.0f} "
            f"{base_ms if base_ms is not None else float('nan'):8.1f}"
        )
    for failure in results["failures"][:10]:
        what = f"{failure.get('Method')} {failure.get('Name')}"
        print(f"  error: {what}: {failure.get('Error')} x{failure.get('Occurrences')}")
    v = results["verify"]
    print(
        f"acknowledged writes: {v['acknowledged_creates']} creates, {v['acknowledged_updates']} updates; "
        f"lost: {v['lost_creates'] + v['lost_updates']}"
    )
    print(
        f"webhooks: {v['webhook_deliveries']} deliveries, not delivered {v['webhook_not_delivered']}, "
        f"received twice {v['webhook_received_twice']}, "
        f"delivered but not received {v['webhook_delivered_not_received']}"
    )
    total = stats.get("Aggregated", {"requests": 0, "failures": 0, "p95_ms": 0.0})
    list_p95 = stats.get("GET /incidents", {}).get("p95_ms", 0.0)
    list_base = base.get("GET /incidents") or 1.0
    print(
        f"load: {total['requests']} requests, {total['failures']} errors, "
        f"p95 GET /incidents {list_p95:.1f} ms = {list_p95 / list_base:.2f}x unloaded"
    )
    out = args.results or REPO / "benchmarks" / "results" / ("load_tiny.json" if args.tiny else "load.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    shutil.rmtree(WORK, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
