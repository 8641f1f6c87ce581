"""VectorIndex at scale: exact vs HNSW latency, recall, memory, build time, wrapper overhead, update latency.

For each size: build an exact and an HNSW ``VectorIndex`` (bulk load), compute the exact top-10 of the
queries as ground truth, sweep HNSW efSearch (recall@10 and single-query p95), time the exact index,
compare ``VectorIndex.search`` with a bare faiss ``index.search`` on the same faiss index, and time an
incremental add (and an update) until the item shows up in a search.

Data (``--data``): ``random`` = uniformly random unit vectors (the issue's setting; the worst case for
any graph index, as nothing is much nearer than anything else), ``embedding`` = Gaussian samples with
the mean and covariance of the cached real MiniLM ticket embeddings (run bench_similar first), a
closer stand-in for real collections.

Run: .venv/bin/python -m benchmarks.bench_index_scale --sizes 100000,1000000 --data random,embedding
CI:  .venv/bin/python -m benchmarks.bench_index_scale --tiny (3,000 random vectors; see TINY)
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._knowledge_data import CACHE_DIR, print_table, write_results
from itsm_ai.knowledge.retrieval.vector_backend import EXACT, HNSW
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex

DIM = 384


def rss() -> int:
    """Resident memory of this process in bytes (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def make_sampler(kind: str, rng: np.random.Generator):
    """Return a function n -> (n, 384) unit vectors of the chosen distribution."""
    if kind == "random":

        def sample(n: int) -> np.ndarray:
            out = np.empty((n, DIM), dtype=np.float32)
            for start in range(0, n, 100_000):
                block = rng.standard_normal((min(100_000, n - start), DIM), dtype=np.float32)
                out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
            return out

        return sample
    real = [np.load(p) for p in sorted(CACHE_DIR.glob("*.npy"))]
    if not real:
        raise SystemExit("--data embedding needs cached embeddings: run benchmarks.bench_similar first")
    real = np.concatenate(real).astype(np.float64)
    mean, cov = real.mean(axis=0), np.cov(real, rowvar=False)
    eigval, eigvec = np.linalg.eigh(cov)
    basis = (eigvec * np.sqrt(np.clip(eigval, 0, None))).T.astype(np.float32)
    print(
        f"embedding-shaped data from {len(real)} real vectors; participation ratio "
        f"{eigval.sum() ** 2 / (eigval**2).sum():.0f} of {DIM} dimensions"
    )

    def sample(n: int) -> np.ndarray:
        out = np.empty((n, DIM), dtype=np.float32)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            block = mean.astype(np.float32) + rng.standard_normal((m, DIM), dtype=np.float32) @ basis
            out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out

    return sample


def percentile_ms(samples: list[float], q: float) -> float:
    """The q-th percentile of durations in seconds, as milliseconds."""
    return float(np.percentile(samples, q) * 1e3)


def time_single(fn, queries: np.ndarray) -> tuple[list[float], list]:
    """Run fn on each query alone; return per-query durations and results."""
    out, durations = [], []
    for q in queries:
        start = time.perf_counter()
        out.append(fn(q))
        durations.append(time.perf_counter() - start)
    return durations, out


def recall10(found: list[list[int]], truth: np.ndarray) -> float:
    """Mean overlap of the found top-10 with the exact top-10."""
    return float(
        np.mean([len(set(f[:10]) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])
    )


def update_latency(index: VectorIndex, sample, rng, rounds: int) -> dict[str, float]:
    """Time from add (new id) or update (existing id) to the item being the top hit of a search."""
    adds, updates = [], []
    base = 10**12
    ids = index.ids()
    for r in range(rounds):
        vec = sample(1)[0]
        start = time.perf_counter()
        index.add(base + r, vec)
        hit = index.search(vec, 1)
        adds.append(time.perf_counter() - start)
        assert hit and hit[0][0] == base + r, "added item not found"
        target = ids[int(rng.integers(len(ids)))]
        vec = sample(1)[0]
        start = time.perf_counter()
        index.update(target, vec)
        hit = index.search(vec, 1)
        updates.append(time.perf_counter() - start)
        assert hit and hit[0][0] == target, "updated item not found"
    return {
        "add_to_search_ms_p50": percentile_ms(adds, 50),
        "add_to_search_ms_max": max(adds) * 1e3,
        "update_to_search_ms_p50": percentile_ms(updates, 50),
        "update_to_search_ms_max": max(updates) * 1e3,
    }


def wrapper_overhead(index: VectorIndex, queries: np.ndarray) -> dict[str, float]:
    """Single-query p50 of VectorIndex.search vs a bare faiss search on the same index and efSearch."""
    raw = index.faiss_index
    if index.kind == HNSW:
        raw.hnsw.efSearch = index.ef_search
    wrapped, raw_t = [], []
    for q in queries:  # interleaved, so that background load hits both sides alike
        start = time.perf_counter()
        raw.search(q[None, :], 10)
        raw_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        index.search(q, 10)
        wrapped.append(time.perf_counter() - start)
    return {
        "bare_p50_ms": percentile_ms(raw_t, 50),
        "wrapped_p50_ms": percentile_ms(wrapped, 50),
        "bare_p95_ms": percentile_ms(raw_t, 95),
        "wrapped_p95_ms": percentile_ms(wrapped, 95),
        "ratio_p50": float(np.median(wrapped) / np.median(raw_t)),
        "ratio_p95": float(np.percentile(wrapped, 95) / np.percentile(raw_t, 95)),
        "added_us_p50": float((np.median(wrapped) - np.median(raw_t)) * 1e6),
    }


def run_size(n: int, data: str, args, rng) -> dict:
    """All measurements for one collection size and data distribution."""
    sample = make_sampler(data, rng)
    print(f"\n=== {data} data, n = {n:,} ===", flush=True)
    x = sample(n)
    queries = sample(args.queries)
    tune_queries = sample(args.tune_queries)  # separate from the measured queries: no tuning on them
    ids = np.arange(n, dtype=np.int64)
    result: dict = {
        "n": n,
        "data": data,
        "queries": args.queries,
        "wrapper_overhead": {},
        "update_latency": {},
    }

    gc.collect()
    before = rss()
    start = time.perf_counter()
    exact = VectorIndex(DIM, kind=EXACT)
    exact.add_many(ids, x)
    result["exact_build_s"] = time.perf_counter() - start
    result["exact_rss_delta_mb"] = (rss() - before) / 2**20
    result["exact_index_mb"] = n * DIM * 4 / 2**20
    start = time.perf_counter()
    _, truth = exact.faiss_index.search(queries, 10)
    result["ground_truth_batch_s"] = time.perf_counter() - start
    n_exact = min(len(queries), args.exact_queries)
    if n_exact:  # --exact-queries 0 skips the exact timings (the ground truth is still computed)
        durations, found = time_single(lambda q, ix=exact: ix.search(q, 10), queries[:n_exact])
        result["exact_p50_ms"], result["exact_p95_ms"] = (
            percentile_ms(durations, 50),
            percentile_ms(durations, 95),
        )
        assert recall10([[i for i, _ in f] for f in found], truth[:n_exact]) == 1.0
        result["wrapper_overhead"]["exact"] = wrapper_overhead(exact, queries[:n_exact])
        result["update_latency"]["exact"] = update_latency(exact, sample, rng, args.update_rounds)
        print(f"exact: p50 {result['exact_p50_ms']:.1f} ms, p95 {result['exact_p95_ms']:.1f} ms", flush=True)
    del exact
    gc.collect()

    # HNSW, added in chunks so that a build over budget stops (and is reported) instead of running on.
    before = rss()
    start = time.perf_counter()
    hnsw = VectorIndex(DIM, kind=HNSW, hnsw_m=args.m, ef_construction=args.ef_construction)
    chunk = 50_000
    for lo in range(0, n, chunk):
        hnsw.add_many(ids[lo : lo + chunk], x[lo : lo + chunk])
        elapsed = time.perf_counter() - start
        if elapsed > args.build_budget and lo + chunk < n:
            done = lo + chunk
            result["hnsw_build_aborted"] = {
                "added": done,
                "seconds": elapsed,
                "extrapolated_total_s": elapsed * (n / done) * np.log(n) / np.log(done),
            }
            print(f"hnsw build over budget: {done:,} of {n:,} vectors in {elapsed:.0f} s", flush=True)
            return result
    result["hnsw_build_s"] = time.perf_counter() - start
    result["hnsw_rss_delta_mb"] = (rss() - before) / 2**20
    links = hnsw.faiss_index.hnsw.neighbors.size() * 4
    result["hnsw_index_mb"] = (n * DIM * 4 + links) / 2**20
    print(f"hnsw M={args.m} efC={args.ef_construction}: build {result['hnsw_build_s']:.0f} s", flush=True)
    del x
    gc.collect()

    sweep = []
    for ef in args.ef_search:
        hnsw.ef_search = ef
        durations, found = time_single(lambda q, ix=hnsw: ix.search(q, 10), queries)
        rec = recall10([[i for i, _ in f] for f in found], truth)
        sweep.append(
            {
                "ef_search": ef,
                "recall@10": rec,
                "p50_ms": percentile_ms(durations, 50),
                "p95_ms": percentile_ms(durations, 95),
            }
        )
        print(f"  efSearch {ef:5d}: recall@10 {rec:.3f}  p95 {sweep[-1]['p95_ms']:.2f} ms", flush=True)
    result["hnsw_sweep"] = sweep
    good = [s for s in sweep if s["recall@10"] >= 0.95]
    point = min(good, key=lambda s: s["p95_ms"]) if good else max(sweep, key=lambda s: s["recall@10"])
    result["operating_point"] = point
    # The index's own choice: smallest efSearch reaching the recall target on the tuning queries.
    tuning = hnsw.tune_ef_search(tune_queries, target_recall=args.target_recall)
    durations, found = time_single(lambda q, ix=hnsw: ix.search(q, 10), queries)
    result["tuned"] = {
        "ef_search": tuning["ef_search"],
        "hnsw_m": args.m,
        "ef_construction": args.ef_construction,
        "tuning_recall": tuning["recall"],
        "reached": tuning["reached"],
        "recall@10": recall10([[i for i, _ in f] for f in found], truth),
        "p50_ms": percentile_ms(durations, 50),
        "p95_ms": percentile_ms(durations, 95),
    }
    print(f"  tuned efSearch {tuning['ef_search']}: {result['tuned']}", flush=True)
    result["wrapper_overhead"]["hnsw"] = wrapper_overhead(hnsw, queries)
    result["update_latency"]["hnsw"] = update_latency(hnsw, sample, rng, args.update_rounds)
    return result


# --tiny (CI): one small random collection, few queries and rounds, two efSearch values.
TINY = {
    "sizes": "3000",
    "data": "random",
    "queries": 20,
    "update_rounds": 2,
    "tune_queries": 20,
    "ef_search": "32,64",
    "tag": "tiny",
}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run every size and data kind, print tables and write the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated collection sizes")
    parser.add_argument("--data", default="random,embedding", help="random and/or embedding")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--exact-queries", type=int, default=50, help="single queries timed on the exact index"
    )
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--ef-search", default="32,64,128,256,512,1024")
    parser.add_argument("--update-rounds", type=int, default=20)
    parser.add_argument("--tune-queries", type=int, default=200, help="held-out queries for efSearch tuning")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument("--build-budget", type=float, default=900, help="seconds before an HNSW build stops")
    parser.add_argument(
        "--tiny", action="store_true", help="CI size: " + ", ".join(f"{k}={v}" for k, v in TINY.items())
    )
    if parser.parse_known_args(argv)[0].tiny:  # explicit options still win over the CI defaults
        parser.set_defaults(**TINY)
    args = parser.parse_args(argv)
    args.ef_search = [int(v) for v in args.ef_search.split(",")]
    rng = np.random.default_rng(args.seed)
    import faiss

    runs = []
    for data in args.data.split(","):
        for n in (int(v) for v in args.sizes.split(",")):
            runs.append(run_size(n, data, args, rng))
            write_results(
                "bench_index_scale" + (f"_{args.tag}" if args.tag else ""),
                {
                    "faiss_version": faiss.__version__,
                    "threads": faiss.omp_get_max_threads(),
                    "params": vars(args),
                    "runs": runs,
                },
            )

    print_table(
        [
            "data",
            "n",
            "exact p95 ms",
            "hnsw build s",
            "best ef",
            "recall@10",
            "hnsw p95 ms",
            "exact MB",
            "hnsw MB",
            "tuned ef",
            "tuned recall@10",
            "tuned p95 ms",
        ],
        [
            [
                r["data"],
                f"{r['n']:,}",
                r.get("exact_p95_ms", "-"),
                r.get("hnsw_build_s", f"> {r.get('hnsw_build_aborted', {}).get('seconds', 0):.0f} (stopped)"),
                r.get("operating_point", {}).get("ef_search", "-"),
                r.get("operating_point", {}).get("recall@10", "-"),
                r.get("operating_point", {}).get("p95_ms", "-"),
                r["exact_rss_delta_mb"],
                r.get("hnsw_rss_delta_mb", "-"),
                r.get("tuned", {}).get("ef_search", "-"),
                r.get("tuned", {}).get("recall@10", "-"),
                r.get("tuned", {}).get("p95_ms", "-"),
            ]
            for r in runs
        ],
        title="exact vs HNSW (best ef: fastest swept efSearch with recall@10 >= 0.95, else best recall; "
        "tuned: the index's own tune_ef_search on held-out queries)",
    )
    print_table(
        ["data", "n", "kind", "bare p50 ms", "VectorIndex p50 ms", "ratio p50", "ratio p95", "added us"],
        [
            [
                r["data"],
                f"{r['n']:,}",
                kind,
                o["bare_p50_ms"],
                o["wrapped_p50_ms"],
                o["ratio_p50"],
                o["ratio_p95"],
                o["added_us_p50"],
            ]
            for r in runs
            for kind, o in r["wrapper_overhead"].items()
        ],
        title="VectorIndex.search vs bare faiss index.search (same index, single queries)",
    )
    print_table(
        ["data", "n", "kind", "add->found p50 ms", "add max ms", "update->found p50 ms", "update max ms"],
        [
            [
                r["data"],
                f"{r['n']:,}",
                kind,
                u["add_to_search_ms_p50"],
                u["add_to_search_ms_max"],
                u["update_to_search_ms_p50"],
                u["update_to_search_ms_max"],
            ]
            for r in runs
            for kind, u in r["update_latency"].items()
        ],
        title="incremental update: add / update of one item until it is the top hit",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
