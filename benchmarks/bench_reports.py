"""Report latency at 1,000,000 incidents on SQLite and PostgreSQL, against a baseline in the same run.

    python -m benchmarks.bench_reports [--rows N] [--database sqlite|postgres|both] [--repeats R] [--tiny]
                                       [--only TEXT] [--keep DIR]

Generates N tickets opened over the last 365 days (ids in time order, as a store fills up): their report
facts with realistic distributions (states, resolution and response times, SLA outcomes, reassignments and
reopens, 60 groups, 20 categories, 200 agents), three triage suggestion rows per ticket (3N rows, with model
versions over time and agents' feedback) and their hourly counts, N/4 virtual-agent conversations and N/10
knowledge votes, loaded with executemany (SQLite) or COPY (PostgreSQL), indexes built after the load. Then
every report is requested through the real app in process (TestClient, JSON or CSV), R times each, for the
default range (the last 12 months: all N tickets), by month, by month and group, and by day; and filtered.

Baseline: SELECT count(*) over the same facts table, in the same run. Target: every report p95 < 1 s.

Volume grouped or filtered by group, category, priority or state (and the backlog's tickets opened per
period) read the daily ticket counts per field (report_ticket_days, migration 0022: about 44k rows for group
at 1M tickets) instead of walking the facts three times; reports by day and group are written as CSV column
by column. Interleaved A/B through the app on the same kept load, 5 rounds each, p95 wall (client CPU), the
facts' walks and the per-cell CSV writer vs the daily counts and the column writer (2026-12-06 08:15, load
average ~10): SQLite volume as CSV by day and group 9.65 s (759 ms) -> 1.75 s (131 ms), volume by month and
group 6.40 s (516 ms) -> 0.50 s (27 ms), backlog by month and group 11.0 s (755 ms) -> 8.1 s (592 ms);
PostgreSQL 8.46 -> 1.90 s, 3.41 -> 0.42 s, 5.17 -> 3.40 s.

Whole benchmark on a quiet machine after the overlapped walks (2026-12-06 12:03-12:11, --keep, 7 repeats, load
average under 1.5, nothing else running): **every one of the 33 variants under 1 s p95 on both databases**.
SQLite worst backlog by month and group 585 ms, then resolution-time by month and assignee 545 and by month
and group 446, sla-compliance by month and group 531 (count(*) 5.5 ms); PostgreSQL worst resolution-time by
month and assignee 516 and by month and group 513, backlog by month 504 (count(*) 36.8 ms).

Earlier, whole benchmark (2026-12-06 08:00-08:11, --keep; SQLite 7 repeats, PostgreSQL 3; the shared
2-core machine at load average 10-15 with an un-niced training job: count(*) p95 134 ms on SQLite against
8 ms at load 2 an hour earlier, so wall times about 15x a quiet machine's): 5 of 33 variants under 1 s on
SQLite, 9 of 33 on PostgreSQL; ratios to count(*) (the load-independent figure): SQLite volume by month and
group 3.3, volume as CSV by day and group 14.5, resolution-time by month and group 121 and by assignee 128;
PostgreSQL 1.4, 5.2, 38.5 and 31.3. At load 2 (07:27, before these changes) SQLite resolution-time by month
and group took 928 ms p95, by assignee 1019 ms. Grouped quantiles are now summarised from int64 seconds
(no float copy before the sort: about 1.0 -> 0.88 s of CPU for resolution-time by month and group on
SQLite); what remains is the transfer of each resolved ticket's group, seconds and business seconds as text
(packing them into fewer integers measured no faster: the digits cost, not the columns).

Resolution-time by month and group / assignee (issue 17, 2026-12-06): the grouped walks fetch less (no bit for
a value or key that cannot be NULL, value lists without their NULLs; on PostgreSQL one int8[] in binary, a
32-bit key sharing the bits' integer), summaries read the sorted keys for histograms, and the report's two
walks (resolved, responded) run at once on the request's connection and a helper (`reports.overlap`).
Interleaved A/B on the same kept 1M load, the commit before vs after, two rounds each, 7 repeats, through the
app. Quiet machine (11:23-11:25, load average 0.5-1.1): SQLite p95 by group 776/737 -> 479/481 ms, by assignee
800/803 -> 497/502 ms (p50 606/601 -> 306/315 and 654/637 -> 336/348); PostgreSQL p95 by group 866/848 ->
469/530 ms, by assignee 958/923 -> 541/542 ms (p50 731/719 -> 361/451 and 784/756 -> 462/387): 37-42% less at
p95. At load 6.9 (11:06-11:09, a training job and other engineers' tests running): SQLite p95 793/820 ->
535/550 and 806/844 -> 573/552 ms, PostgreSQL 1219/969 -> 844/908 and 1070/1238 -> 786/815 ms. Process CPU
moves less (SQLite ~780 -> ~720 ms, PostgreSQL client ~400-490 -> ~320-380 ms): most of the gain is the second
core, so a loaded machine gains less. Tried and not kept: parsing each period's row as SQLite steps to the
next (no difference at load 6); see reports/queries.py for the transfer formats measured. Left: a full (gen 2)
garbage collection lands in about every other report and costs ~45 ms (160k objects; gc.freeze() after
start-up would make it cheap, an application-wide choice), and the two walks' parsing and numpy share one GIL
after their SQL ran side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results" / "reports.json"
WORK = Path(tempfile.mkdtemp(prefix="itsm-bench-reports-"))
PG_URL = os.environ.get(
    "ITSM_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/itsm_reports"
)
SECRET = "bench-secret-key-that-is-long-enough-for-hs256"
TARGET_MS = 1000.0

os.environ.update(
    {
        "ITSM_DATA_DIR": str(WORK / "var"),
        "ITSM_SECRET_KEY": SECRET,
        "ITSM_PASSWORD_HASH_TIME_COST": "1",
        "ITSM_PASSWORD_HASH_MEMORY_KIB": "1024",
    }
)

N_GROUPS, N_CATEGORIES, N_AGENTS = 60, 20, 200
STATES = (("closed", 70), ("resolved", 12), ("in_progress", 8), ("new", 4), ("on_hold", 3), ("cancelled", 3))
PRIORITIES = ((1, 5), (2, 15), (3, 50), (4, 30))
FIELDS = ("category", "priority", "assignment_group")
STATUSES = (("suggested", 70), ("applied", 10), ("abstained", 15), ("unavailable", 5))
OUTCOMES = (("deflected", 35), ("ticket_created", 40), ("handed_off", 10), ("abandoned", 10), (None, 5))
INTENTS = ("report_problem", "request_item", "check_status", "how_to", "talk_to_person")


def p95(samples: list[float]) -> float:
    """The 95th percentile (nearest rank) of the samples."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


# ------------------------------------------------------------------------------------------------ databases


def use_database(url: str) -> None:
    """Point the settings and the engine at a database."""
    from itsm_ai import database
    from itsm_ai.config import get_settings

    os.environ["ITSM_DATABASE_URL"] = url
    get_settings.cache_clear()
    database.reset_engine()


def fresh_schema(url: str) -> None:
    """An empty, migrated database (SQLite file deleted; PostgreSQL public schema dropped)."""
    from sqlalchemy import create_engine, text

    from itsm_ai.migrate import upgrade

    use_database(url)
    if url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.removeprefix('sqlite:///')}{suffix}").unlink(missing_ok=True)
    else:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade()


def _copy_or_insert(connection, table, columns: list[str], rows: list[tuple]) -> None:
    """COPY (PostgreSQL) or one executemany (SQLite) of rows in column order."""
    raw = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(columns))
        raw.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows)


def _choice(rng: np.random.Generator, pairs, n: int) -> np.ndarray:
    values, weights = zip(*pairs, strict=True)
    p = np.asarray(weights, dtype=float)
    index = rng.choice(len(values), size=n, p=p / p.sum())
    return np.asarray(values, dtype=object)[index]


def _ints(array) -> list:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v) for v in array]


def reuse(url: str, n: int) -> dict[str, Any] | None:
    """The kept database's summary when it holds n generated tickets, brought to the current indexes."""
    from sqlalchemy import inspect, text

    from itsm_ai import database
    from itsm_ai.migrate import upgrade
    from itsm_ai.reports.models import ReportSuggestion, ReportTicket

    use_database(url)
    engine = database.get_engine()
    if "bench_generated" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT tickets, summary FROM bench_generated")).first()
    if kept is None or kept[0] != n:
        return None
    started = time.perf_counter()
    upgrade()
    use_database(url)
    engine = database.get_engine()
    with engine.begin() as connection:
        for index in [*ReportTicket.__table__.indexes, *ReportSuggestion.__table__.indexes]:
            index.create(connection, checkfirst=True)
    _analyze(url, engine)
    return {**json.loads(kept[1]), "reused": True, "index_seconds": round(time.perf_counter() - started, 1)}


def _analyze(url: str, engine) -> None:
    from sqlalchemy import text

    if url.startswith("sqlite"):
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


def _remember(url: str, summary: dict[str, Any]) -> None:
    """Mark the database as holding this generated set (for --keep)."""
    from sqlalchemy import text

    from itsm_ai import database

    with database.get_engine().begin() as connection:
        connection.execute(text("CREATE TABLE bench_generated (tickets INTEGER, summary TEXT)"))
        connection.execute(
            text("INSERT INTO bench_generated VALUES (:n, :s)"),
            {"n": summary["tickets"], "s": json.dumps(summary)},
        )


def generate(url: str, n: int, seed: int = 17) -> dict[str, Any]:
    """Store n tickets' facts, 3n suggestion facts, n/4 conversations, n/10 votes; indexes after the load."""
    from sqlalchemy import text

    from itsm_ai import database
    from itsm_ai.chat.models import Conversation
    from itsm_ai.knowledge.article.models import ArticleFeedback, KnowledgeArticle
    from itsm_ai.reports import flows
    from itsm_ai.reports.models import ReportSuggestion, ReportTicket

    fresh_schema(url)
    rng = np.random.default_rng(seed)
    now = int(datetime.now(UTC).timestamp())
    start = now - 365 * 86_400
    started = time.perf_counter()
    engine = database.get_engine()
    tickets, suggestions = ReportTicket.__table__, ReportSuggestion.__table__
    indexes = [*tickets.indexes, *suggestions.indexes]
    with engine.begin() as connection:
        for index in indexes:
            connection.execute(text(f"DROP INDEX IF EXISTS {index.name}"))
        created = datetime.now(UTC).replace(tzinfo=None)
        stamp = created.isoformat(" ", "microseconds") if url.startswith("sqlite") else created
        users = [(f"agent{i:03d}", "agent", True, stamp, 1) for i in range(N_AGENTS)]
        users.append(("bench-agent", "agent", True, stamp, 1))
        _copy_or_insert(
            connection, _table("users"), ["username", "role", "active", "created_at", "version"], users
        )
        groups = [(f"Group {i}", True, stamp, 1) for i in range(1, N_GROUPS + 1)]
        _copy_or_insert(connection, _table("groups"), ["name", "active", "created_at", "version"], groups)
        group_ids = [r[0] for r in connection.execute(text("SELECT id FROM groups ORDER BY id"))]
        agent_ids = [
            r[0] for r in connection.execute(text("SELECT id FROM users WHERE username LIKE 'agent%'"))
        ]

        opened = np.sort(rng.integers(start, now, size=n))
        types = np.where(rng.random(n) < 0.85, "incident", "service_request")
        states = _choice(rng, STATES, n)
        priorities = _choice(rng, PRIORITIES, n).astype(int)
        weights = 1 / np.arange(1, N_GROUPS + 1)
        groups_of = np.asarray(group_ids)[rng.choice(N_GROUPS, size=n, p=weights / weights.sum())]
        categories = np.asarray([f"Category {i}" for i in range(N_CATEGORIES)], dtype=object)[
            rng.integers(0, N_CATEGORIES, n)
        ]
        assignees = np.asarray(agent_ids)[rng.integers(0, len(agent_ids), n)]
        resolve = np.exp(rng.normal(math.log(20 * 3600), 1.3, n)).astype(np.int64)
        response = np.exp(rng.normal(math.log(1800), 1.2, n)).astype(np.int64)
        done = np.isin(states, ("resolved", "closed"))
        resolved_at = np.where(done, np.minimum(opened + resolve, now - 1), -1)
        closed_at = np.where(states == "closed", np.minimum(resolved_at + 3 * 86_400, now - 1), -1)
        cancelled = states == "cancelled"
        ended = np.where(done, resolved_at, np.where(cancelled, np.minimum(opened + response, now - 1), -1))
        responded = np.where(states == "new", -1, np.minimum(opened + response, now - 1))
        met = rng.random(n) < 0.8
        sla_stage = np.where(
            done, np.where(met, "met", "breached"), np.where(cancelled, "cancelled", "in_progress")
        )
        sla_stage = np.where(states == "on_hold", "paused", sla_stage)
        deadline = opened + rng.integers(4 * 3600, 5 * 86_400, n)
        response_stage = np.where(
            states == "new", "in_progress", np.where(rng.random(n) < 0.9, "met", "breached")
        )
        response_deadline = opened + rng.integers(900, 8 * 3600, n)
        counted = types == "incident"
        reassigned = _choice(rng, ((0, 55), (1, 25), (2, 12), (3, 5), (4, 3)), n).astype(int)
        reopened = np.where(rng.random(n) < 0.02, 1, 0)
        ids = np.empty(n, dtype=np.int64)
        for record_type in ("incident", "service_request"):
            mask = types == record_type
            ids[mask] = np.arange(1, mask.sum() + 1)
        columns = [
            "record_type",
            "opened_at",
            "record_id",
            "state",
            "priority",
            "category",
            "assignment_group_id",
            "assigned_to_id",
            "resolved_at",
            "closed_at",
            "ended_at",
            "first_response_at",
            "resolve_business_seconds",
            "response_business_seconds",
            "reassignment_count",
            "reopen_count",
            "sla_stage",
            "sla_deadline",
            "response_stage",
            "response_deadline",
            "source_made_sla",
        ]

        def opt(array):
            return [None if v < 0 else int(v) for v in array]

        business = resolve * 2 // 5
        rows = list(
            zip(
                types.tolist(),
                opened.tolist(),
                ids.tolist(),
                states.tolist(),
                priorities.tolist(),
                categories.tolist(),
                groups_of.tolist(),
                [None if s == "new" else int(a) for s, a in zip(states, assignees, strict=True)],
                opt(resolved_at),
                opt(closed_at),
                opt(ended),
                opt(responded),
                [int(b) if d else None for b, d in zip(business, done, strict=True)],
                [int(r // 2) if s != "new" else None for r, s in zip(response, states, strict=True)],
                [int(r) if c else None for r, c in zip(reassigned, counted, strict=True)],
                [int(r) if c else None for r, c in zip(reopened, counted, strict=True)],
                sla_stage.tolist(),
                deadline.tolist(),
                response_stage.tolist(),
                response_deadline.tolist(),
                [None] * n,
                strict=True,
            )
        )
        # Insert in primary-key order, as the store's time-ordered ids do.
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        for chunk in range(0, n, 100_000):
            _copy_or_insert(connection, tickets, columns, rows[chunk : chunk + 100_000])
        del rows

        version = np.minimum((opened - start) * 4 // (now - start), 3) + 1
        s_rows = []
        for field in FIELDS:
            status = _choice(rng, STATUSES, n)
            shown = np.isin(status, ("suggested", "applied"))
            feedback = np.where(
                shown, _choice(rng, (("accepted", 40), ("overridden", 10), (None, 50)), n), None
            )
            s_rows.extend(
                zip(
                    types.tolist(),
                    [field] * n,
                    [field] * n,
                    [f"v{v:04d}" for v in version],
                    opened.tolist(),
                    ids.tolist(),
                    status.tolist(),
                    feedback.tolist(),
                    states.tolist(),
                    priorities.tolist(),
                    categories.tolist(),
                    groups_of.tolist(),
                    [None] * n,
                    strict=True,
                )
            )
        s_rows.sort(key=lambda r: r[:6])
        s_columns = [
            "record_type",
            "field",
            "model",
            "model_version",
            "opened_at",
            "record_id",
            "status",
            "feedback",
            "state",
            "priority",
            "category",
            "assignment_group_id",
            "assigned_to_id",
        ]
        for chunk in range(0, len(s_rows), 100_000):
            _copy_or_insert(connection, suggestions, s_columns, s_rows[chunk : chunk + 100_000])
        del s_rows

        sqlite = url.startswith("sqlite")

        def when(epoch_seconds: int):
            value = datetime.fromtimestamp(int(epoch_seconds), UTC).replace(tzinfo=None)
            return value.isoformat(" ", "microseconds") if sqlite else value

        user_id = agent_ids[0]
        n_conv = max(n // 4, 10)
        conv_start = np.sort(rng.integers(start, now, n_conv))
        outcomes = _choice(rng, OUTCOMES, n_conv)
        intents = np.asarray(INTENTS, dtype=object)[rng.integers(0, len(INTENTS), n_conv)]
        conv_rows = [
            (user_id, when(t), when(t + 120), "ended" if o else "open", i, o)
            for t, o, i in zip(conv_start.tolist(), outcomes.tolist(), intents.tolist(), strict=True)
        ]
        conv_columns = ["user_id", "started_at", "updated_at", "state", "intent", "outcome"]
        _copy_or_insert(connection, Conversation.__table__, conv_columns, conv_rows)

        n_articles = 2000
        art_rows = [
            (
                f"KB{i:07d}",
                f"Article {i}",
                "",
                "published",
                f"Category {i % N_CATEGORIES}",
                1,
                int(rng.integers(0, 5000)),
                0,
                0,
                when(start + i * 100),
                when(start),
                when(start),
                1,
            )
            for i in range(1, n_articles + 1)
        ]
        art_columns = [
            "number",
            "short_description",
            "text",
            "state",
            "category",
            "article_version",
            "view_count",
            "helpful_count",
            "not_helpful_count",
            "published_at",
            "created_at",
            "updated_at",
            "version",
        ]
        _copy_or_insert(connection, KnowledgeArticle.__table__, art_columns, art_rows)
        n_votes = max(n // 10, 10)
        vote_at = rng.integers(start, now, n_votes)
        vote_rows = [
            (int(a), None, bool(h), when(t), when(t))
            for a, h, t in zip(
                rng.integers(1, n_articles + 1, n_votes), rng.random(n_votes) < 0.7, vote_at, strict=True
            )
        ]
        _copy_or_insert(
            connection,
            ArticleFeedback.__table__,
            ["article_id", "user_id", "helpful", "created_at", "updated_at"],
            vote_rows,
        )
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    use_database(url)  # a fresh engine: a pooled SQLite connection would keep the old schema cache
    engine = database.get_engine()
    with engine.begin() as connection:
        for index in indexes:
            index.create(connection)
    with database.get_session() as session:
        flows.rebuild_hours(db_session=session, record_types=["incident", "service_request"])
    _analyze(url, engine)
    return {
        "tickets": n,
        "suggestion_rows": 3 * n,
        "conversations": n_conv,
        "votes": n_votes,
        "load_seconds": round(load_seconds, 1),
        "index_seconds": round(time.perf_counter() - started, 1),
    }


def _table(name: str):
    from itsm_ai.all_models import metadata

    return metadata.tables[name]


# ------------------------------------------------------------------------------------------------ queries


def report_queries() -> dict[str, str]:
    """Name -> request path of every report variant timed."""
    from itsm_ai.reports.enums import Metric

    out = {}
    groupings = {"deflection": "intent", "knowledge": "category"}
    for metric in (m.value for m in Metric):
        base = f"/api/v1/reports/{metric}"
        out[f"{metric} by month"] = base
        out[f"{metric} by month and {groupings.get(metric, 'group')}"] = (
            f"{base}?group_by={groupings.get(metric, 'group')}"
        )
        out[f"{metric} by day"] = f"{base}?interval=day"
    out["sla-compliance P1-P2 by week and category"] = (
        "/api/v1/reports/sla-compliance?interval=week&priority=1,2&group_by=category"
    )
    out["resolution-time by month and assignee"] = "/api/v1/reports/resolution-time?group_by=assignee"
    out["volume as CSV by day and group"] = "/api/v1/reports/volume?interval=day&group_by=group&format=csv"
    return out


def bench_reports(
    url: str, n: int, repeats: int, only: str | None = None, keep: bool = False
) -> dict[str, Any]:
    """p95 of every report request vs a count(*) over the facts, with n tickets stored."""
    from fastapi.testclient import TestClient
    from sqlalchemy import select, text

    from itsm_ai import database
    from itsm_ai.auth import tokens as auth_tokens
    from itsm_ai.auth.models import User
    from itsm_ai.main import create_app

    generated = reuse(url, n) if keep else None
    if generated is None:
        generated = generate(url, n)
        if keep:
            _remember(url, generated)
    use_database(url)
    with database.get_session() as session:
        agent = session.scalar(select(User).where(User.username == "bench-agent"))
        token, _ = auth_tokens.create_access_token(agent)
    headers = {"Authorization": f"Bearer {token}"}
    baseline = []
    engine = database.get_engine()
    for _ in range(max(repeats, 5)):
        with engine.connect() as connection:
            started = time.perf_counter()
            connection.execute(text("SELECT count(*) FROM report_tickets")).scalar()
            baseline.append((time.perf_counter() - started) * 1000)
    base_ms = p95(baseline)
    results: dict[str, Any] = {
        "generated": generated,
        "baseline_count_p95_ms": round(base_ms, 2),
        "queries": {},
    }
    with TestClient(create_app(start_worker=False)) as client:
        client.get("/api/v1/reports/volume?interval=all", headers=headers)  # warm the app and the pool
        for name, path in report_queries().items():
            if only and only not in name:
                continue
            samples, cpu = [], []
            for _ in range(repeats):
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.get(path, headers=headers)
                samples.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
                assert response.status_code == 200, response.text
            rows = (
                len(response.json()["items"]) if "format=csv" not in path else response.text.count("\n") - 1
            )
            results["queries"][name] = {
                "p50_ms": round(statistics.median(samples), 1),
                "p95_ms": round(p95(samples), 1),
                "cpu_p95_ms": round(p95(cpu), 1),
                "ratio_to_count": round(p95(samples) / base_ms, 1) if base_ms else None,
                "rows": rows,
                "ok": p95(samples) < TARGET_MS,
            }
    results["worst_p95_ms"] = max((q["p95_ms"] for q in results["queries"].values()), default=None)
    results["all_under_target"] = all(q["ok"] for q in results["queries"].values())
    return results


def bench_rebuild(url: str, n: int) -> dict[str, Any]:
    """Facts back-fill rate: n incidents created through the store (clocks, history), facts rebuilt."""
    from itsm_ai import database
    from itsm_ai.engine import install
    from itsm_ai.records import service as records
    from itsm_ai.reports import flows
    from itsm_ai.ticket.models import IncidentCreate
    from itsm_ai.ticket.service import INCIDENT

    fresh_schema(url)
    install()
    rng = random.Random(5)
    base = datetime.now(UTC) - timedelta(days=30)
    with database.get_session() as session:
        for i in range(n):
            obj = records.create(
                db_session=session,
                spec=INCIDENT,
                data=IncidentCreate(
                    short_description=f"ticket {i}",
                    impact=rng.randint(1, 3),
                    urgency=rng.randint(1, 3),
                    opened_at=base + timedelta(minutes=i),
                ).model_dump(),
                actor=None,
            )
            if i % 2:
                records.update(
                    db_session=session,
                    spec=INCIDENT,
                    obj=obj,
                    data={"version": obj.version, "state": "in_progress"},
                    actor=None,
                )
    with database.get_session() as session:
        started = time.perf_counter()
        count = flows.rebuild(db_session=session)
        seconds = time.perf_counter() - started
    return {"tickets": count, "seconds": round(seconds, 2), "tickets_per_s": round(count / seconds)}


def _print(name: str, results: dict[str, Any]) -> None:
    print(
        f"\n== {name}: {results['generated']['tickets']:,} tickets "
        f"(load {results['generated']['load_seconds']} s, indexes {results['generated']['index_seconds']} s)"
    )
    print(f"baseline SELECT count(*) p95: {results['baseline_count_p95_ms']} ms")
    print(f"{'report':58} {'p50 ms':>8} {'p95 ms':>8} {'cpu p95':>8} {'x count':>8} {'rows':>6}  < 1 s")
    for query, r in results["queries"].items():
        figures = f"{r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['cpu_p95_ms']:8.1f} {r['ratio_to_count']:8.1f}"
        print(f"{query:58} {figures} {r['rows']:6d}  {'yes' if r['ok'] else 'NO'}")
    print(f"worst p95: {results['worst_p95_ms']} ms; all under 1 s: {results['all_under_target']}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write benchmarks/results/reports.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="tickets generated (default 1,000,000)")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=7, help="requests per report variant")
    parser.add_argument("--rebuild-rows", type=int, default=2000, help="tickets for the back-fill rate")
    parser.add_argument("--tiny", action="store_true", help="CI size: 20,000 tickets, 3 repeats, 200 rebuilt")
    parser.add_argument("--only", help="time only the variants whose name contains this (e.g. 'and group')")
    parser.add_argument("--keep", type=Path, help="keep the SQLite database here and reuse kept data")
    args = parser.parse_args(argv)
    if args.tiny:
        args.rows, args.repeats, args.rebuild_rows = 20_000, 3, 200
    targets = []
    if args.database in ("sqlite", "both"):
        folder = args.keep or WORK
        folder.mkdir(parents=True, exist_ok=True)
        targets.append(("sqlite", f"sqlite:///{folder.resolve() / 'reports.db'}"))
    if args.database in ("postgres", "both"):
        targets.append(("postgresql", PG_URL))
    results: dict[str, Any] = {"rows": args.rows, "repeats": args.repeats, "target_p95_ms": TARGET_MS}
    for name, url in targets:
        results[name] = bench_reports(url, args.rows, args.repeats, args.only, keep=bool(args.keep))
        _print(name, results[name])
        if not args.only and not args.keep:
            results[name]["rebuild"] = bench_rebuild(url, args.rebuild_rows)
            print(f"facts back-fill: {results[name]['rebuild']}")
    if not args.tiny and not args.only:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
