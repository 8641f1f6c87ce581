"""ServiceNow Table API list pages against the native API on the same query, same data, same run.

    python -m benchmarks.bench_servicenow [--rows N | --sizes N,N,...] [--database sqlite|postgres|both]
        [--repeats R] [--tiny]

Stores N incidents (default 1,000,000; bench_store's generator: raw executemany / COPY, realistic
distributions, indexes built after the load), then requests each query R times through the real app in
process (TestClient, bearer token for both APIs): the native `/api/v1/incidents` list and the equivalent
Table API call with an encoded query on indexed fields (50 rows a page, newest first, display values off),
and one record read by id (native) and by sys_id (Table API). `--sizes` runs each size in turn (e.g.
5000,50000,200000) and prints every size's ratios.

Baseline: the native list of the same query in the same run. Targets: Table API p95 / native p95 <= 1.3, and
Table API p95 < 100 ms on every query. `--tiny` (5,000 rows, 8 repeats) runs in well under a minute for CI.
SQLite runs in a temporary folder; PostgreSQL uses the database itsm_snow_bench on 127.0.0.1 (created when
missing; its schema is dropped and recreated). Results: benchmarks/results/servicenow.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks import bench_store

RESULTS = bench_store.REPO_ROOT / "benchmarks" / "results" / "servicenow.json"
bench_store.PG_DB = "itsm_snow_bench"
PG_URL = f"postgresql+psycopg://postgres@{bench_store.PG_HOST}/{bench_store.PG_DB}"
RATIO_TARGET, P95_TARGET_MS = 1.3, 100.0

# (name, native path, Table API path): the same rows in the same order.
QUERIES = (
    (
        "first page (newest first)",
        "/api/v1/incidents?limit=50",
        "/api/now/table/incident?sysparm_limit=50&sysparm_query=ORDERBYDESCopened_at",
    ),
    (
        "state filter",
        "/api/v1/incidents?state=in_progress&limit=50",
        "/api/now/table/incident?sysparm_limit=50&sysparm_query=state=2^ORDERBYDESCopened_at",
    ),
    (
        "priority + state filter",
        "/api/v1/incidents?priority=1&state=new&limit=50",
        "/api/now/table/incident?sysparm_limit=50&sysparm_query=priority=1^state=1^ORDERBYDESCopened_at",
    ),
    (
        "assignment group (dot-walked by name)",
        "/api/v1/incidents?assignment_group=Group%2017&limit=50",
        "/api/now/table/incident?sysparm_limit=50"
        "&sysparm_query=assignment_group.name=Group%2017^ORDERBYDESCopened_at",
    ),
    (
        "offset page 100",
        "/api/v1/incidents?offset=4950&limit=50",
        "/api/now/table/incident?sysparm_limit=50&sysparm_offset=4950&sysparm_query=ORDERBYDESCopened_at",
    ),
)


# One record by id / sys_id, filled in with the newest incident once the data is stored.
READ_ONE = ("read one (by id / sys_id)", "/api/v1/incidents/{id}", "/api/now/table/incident/{sys_id}")


def _p95(samples: list[float]) -> float:
    return bench_store._p95(samples)


def _timed(client, path: str, headers: dict[str, str], repeats: int) -> tuple[list[float], Any]:
    samples, response = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return samples, response


def bench(url: str, rows: int, repeats: int) -> dict[str, Any]:
    """p95 of each query through both APIs with `rows` incidents stored."""
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from itsm_ai import database
    from itsm_ai.auth import tokens as auth_tokens
    from itsm_ai.auth.models import User
    from itsm_ai.main import create_app
    from itsm_ai.servicenow.codes import encode_sys_id
    from itsm_ai.ticket.models import Incident

    generated = bench_store.generate_incidents(url, rows)
    bench_store.use_database(url)
    with database.get_session() as session:
        agent = session.scalar(select(User).where(User.username == "bench-agent"))
        token, _ = auth_tokens.create_access_token(agent)
        newest = session.scalar(select(func.max(Incident.id)))
    read_one = (
        READ_ONE[0],
        READ_ONE[1].format(id=newest),
        READ_ONE[2].format(sys_id=encode_sys_id("incident", newest)),
    )
    headers = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {"generated": generated, "queries": {}}
    with TestClient(create_app(start_worker=False)) as client:
        client.get("/api/v1/incidents?limit=1", headers=headers)  # warm the app and the pool
        client.get("/api/now/table/incident?sysparm_limit=1", headers=headers)
        for name, native_path, sn_path in (*QUERIES, read_one):
            # Interleaved rounds, so a burst of load on the shared machine hits both sides alike.
            native, table_api = [], []
            for _ in range(repeats):
                n_samples, n_response = _timed(client, native_path, headers, 1)
                s_samples, s_response = _timed(client, sn_path, headers, 1)
                native += n_samples
                table_api += s_samples
            native_body, sn_body = n_response.json(), s_response.json()["result"]
            native_numbers = [item["number"] for item in native_body.get("items", [native_body])]
            sn_numbers = [item["number"] for item in (sn_body if isinstance(sn_body, list) else [sn_body])]
            assert native_numbers == sn_numbers, f"{name}: the two APIs answer different rows"
            out["queries"][name] = {
                "native_p50_ms": round(statistics.median(native), 1),
                "native_p95_ms": round(_p95(native), 1),
                "table_api_p50_ms": round(statistics.median(table_api), 1),
                "table_api_p95_ms": round(_p95(table_api), 1),
                "ratio_p95": round(_p95(table_api) / _p95(native), 2),
                "total": s_response.headers.get("X-Total-Count", "1"),
                "requests": repeats,
            }
    return out


def _print(results: dict[str, Any]) -> None:
    for target in ("sqlite", "postgres"):
        if target not in results:
            continue
        rows = results[target]["generated"]["rows"]
        targets = f"targets: ratio <= {RATIO_TARGET}, p95 < {P95_TARGET_MS:.0f} ms"
        print(f"\n[{target}] {rows:,} incidents   ({targets})")
        print(f"{'query':42} {'native p95':>11} {'Table API p95':>14} {'ratio':>6}")
        for name, q in results[target]["queries"].items():
            flag = (
                ""
                if q["ratio_p95"] <= RATIO_TARGET and q["table_api_p95_ms"] < P95_TARGET_MS
                else "  <- over"
            )
            print(
                f"{name:42} {q['native_p95_ms']:>9.1f}ms {q['table_api_p95_ms']:>12.1f}ms "
                f"{q['ratio_p95']:>6.2f}{flag}"
            )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write benchmarks/results/servicenow.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sizes", help="comma-separated row counts, each run in turn (overrides --rows)")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--tiny", action="store_true", help="5,000 rows, 8 repeats (CI)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.rows, args.repeats = 5_000, 8
    targets = ("sqlite", "postgres") if args.database == "both" else (args.database,)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes and not args.tiny else [args.rows]
    runs: dict[str, Any] = {}
    try:
        for rows in sizes:
            when = datetime.now(UTC).isoformat(timespec="seconds")
            results: dict[str, Any] = {"meta": {"when": when, "rows": rows}}
            for target in targets:
                name = f"servicenow_{rows}.db"
                url = bench_store._sqlite_url(name) if target == "sqlite" else PG_URL
                print(f"[{target}] {rows:,} incidents ...", flush=True)
                results[target] = bench(url, rows, args.repeats)
                from itsm_ai import database

                database.reset_engine()
                (bench_store.WORK / name).unlink(missing_ok=True)  # the next size starts from an empty file
            _print(results)
            runs[str(rows)] = results
    finally:
        shutil.rmtree(bench_store.WORK, ignore_errors=True)
    out = runs[str(sizes[0])] if len(sizes) == 1 else {"sizes": runs}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print(f"results written to {RESULTS}")
    return out


if __name__ == "__main__":
    main()
