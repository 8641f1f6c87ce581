"""Similar-incident retrieval quality on real data: lexical (BM25) vs dense vs hybrid (RRF).

1. openoffice_duplicates.csv: every report (both sides, deduplicated by bug id, text = title +
   description) is indexed; each duplicate queries the index (itself excluded) and we measure
   recall@1/5/10 of its master. Settings (BM25 params, title weight, title share of the dense vector,
   RRF k and weights) are chosen on a fixed dev part of the pairs (~30%, by a hash of the duplicate's
   id) and reported on the remaining test part; the defaults and a TF-IDF cosine baseline are reported
   on the same test part.
2. it_tickets_topics.csv: precision@5 of the same topic group among the 5 most similar tickets.

Run: .venv/bin/python -m benchmarks.bench_similar  (embeddings are cached under benchmarks/results/cache)
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from benchmarks._knowledge_data import (
    cached_embeddings,
    is_dev_pair,
    load_openoffice,
    load_topics,
    print_table,
    write_results,
)
from itsm_ai.knowledge.hybrid import HybridSearcher, reciprocal_rank_fusion
from itsm_ai.knowledge.lexical import LexicalIndex
from itsm_ai.knowledge.vector_index import VectorIndex

DEPTH = 100  # candidates per side before fusion
KS = (1, 5, 10)


def normalise(x: np.ndarray) -> np.ndarray:
    """Row-normalise a matrix."""
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall_at(rankings: list[list[int]], targets: list[int], ks=KS) -> dict[str, float]:
    """recall@k of one relevant id per query."""
    out = {}
    for k in ks:
        out[f"R@{k}"] = float(np.mean([t in r[:k] for r, t in zip(rankings, targets, strict=True)]))
    return out


def fuse(dense: list[list[int]], lexical: list[list[int]], k: int, weights=(1.0, 1.0), depth=DEPTH):
    """RRF of per-query ranked id lists."""
    return [
        [i for i, _ in reciprocal_rank_fusion([d[:depth], lx[:depth]], k=k, weights=weights)[:10]]
        for d, lx in zip(dense, lexical, strict=True)
    ]


def lexical_rankings(ids, docs, queries, excludes, *, k1, b, title_weight) -> list[list[int]]:
    """BM25 rankings for the queries with one configuration."""
    index = LexicalIndex(k1=k1, b=b, field_weights={"title": title_weight})
    index.add_many(ids, docs)
    return [
        [i for i, _ in index.search(q, DEPTH, exclude=ex)] for q, ex in zip(queries, excludes, strict=True)
    ]


def dense_rankings(ids, doc_vectors, query_vectors, excludes) -> list[list[int]]:
    """Exact cosine rankings through VectorIndex."""
    index = VectorIndex(doc_vectors.shape[1])
    index.add_many(ids, doc_vectors)
    hits = index.search_many(query_vectors, DEPTH, exclude=[set(e) for e in excludes])
    return [[i for i, _ in h] for h in hits]


def tfidf_rankings(doc_texts, query_rows, excludes, ids) -> list[list[int]]:
    """Plain TF-IDF cosine baseline (scikit-learn defaults)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer().fit_transform(doc_texts)
    sims = (matrix[query_rows] @ matrix.T).toarray()
    out = []
    for row, ex in zip(sims, excludes, strict=True):
        order = [ids[j] for j in np.argsort(-row, kind="stable")[: DEPTH + 1]]
        out.append([i for i in order if i not in ex][:DEPTH])
    return out


def run_openoffice(results: dict) -> dict:
    """Duplicate -> master retrieval, tuned on dev, reported on test."""
    reports, pairs = load_openoffice()
    ids = reports["bug_id"].astype(int).tolist()
    row_of = {bug: r for r, bug in enumerate(ids)}
    text_vecs = cached_embeddings(reports["text"].tolist(), tag="openoffice_text")
    title_vecs = cached_embeddings(reports["title"].tolist(), tag="openoffice_title")
    fields = [
        {"title": t, "description": d} for t, d in zip(reports["title"], reports["description"], strict=True)
    ]
    q_bugs = pairs["bug_id_dup"].astype(int).tolist()
    targets = pairs["bug_id_master"].astype(int).tolist()
    q_rows = [row_of[b] for b in q_bugs]
    excludes = [{b} for b in q_bugs]
    dev = np.array([is_dev_pair(b) for b in q_bugs])
    print(
        f"openoffice: {len(ids)} reports indexed, {len(q_bugs)} queries "
        f"({dev.sum()} dev / {(~dev).sum()} test)"
    )

    # ---- settings are compared on the dev queries only
    dev_idx = np.flatnonzero(dev)
    dev_targets = [targets[j] for j in dev_idx]
    queries = [fields[r] for r in q_rows]

    def dev_score(rankings):
        m = recall_at(rankings, dev_targets)
        return m["R@5"] + 0.001 * m["R@10"]

    t0 = time.perf_counter()
    lex_dev = {}
    for k1, b, tw in itertools.product((0.9, 1.2, 1.6), (0.5, 0.75, 0.9), (1, 2, 3)):
        lex_dev[(k1, b, tw)] = lexical_rankings(
            ids,
            fields,
            [queries[j] for j in dev_idx],
            [excludes[j] for j in dev_idx],
            k1=k1,
            b=b,
            title_weight=tw,
        )
    print(f"  BM25 grid on dev: {len(lex_dev)} settings in {time.perf_counter() - t0:.1f} s")
    dense_dev, dense_all = {}, {}
    for share in (0.0, 0.25, 0.5, 1.0):
        vecs = normalise(text_vecs + share * title_vecs) if share else text_vecs
        dense_all[share] = dense_rankings(ids, vecs, vecs[q_rows], excludes)
        dense_dev[share] = [dense_all[share][j] for j in dev_idx]
    best_lex = max(lex_dev, key=lambda c: dev_score(lex_dev[c]))
    best_dense = max(dense_dev, key=lambda c: dev_score(dense_dev[c]))
    fusion_grid = list(itertools.product((10, 30, 60, 100), ((1.0, 1.0), (1.0, 1.5), (1.5, 1.0), (1.0, 2.0))))
    best_fusion = max(
        fusion_grid, key=lambda c: dev_score(fuse(dense_dev[best_dense], lex_dev[best_lex], c[0], c[1]))
    )
    print(f"  chosen on dev: BM25 {best_lex}, dense title share {best_dense}, RRF {best_fusion}")
    lex_all = {
        c: lexical_rankings(ids, fields, queries, excludes, k1=c[0], b=c[1], title_weight=c[2])
        for c in {(1.2, 0.75, 1), best_lex}
    }
    dense_grid, lex_grid = dense_all, lex_all

    def split(rankings, mask):
        return (
            [r for r, m in zip(rankings, mask, strict=True) if m],
            [t for t, m in zip(targets, mask, strict=True) if m],
        )

    # ---- report on test: defaults, tuned, and the TF-IDF baseline
    default_lex = lex_grid[(1.2, 0.75, 1)]
    default_dense = dense_grid[0.0]
    rows_out = []
    table = {}
    systems = {
        "tfidf cosine (baseline)": tfidf_rankings(reports["text"].tolist(), q_rows, excludes, ids),
        "lexical BM25 (default)": default_lex,
        "dense MiniLM (default)": default_dense,
        "hybrid RRF k=60 (default)": fuse(default_dense, default_lex, 60),
        f"lexical BM25 k1={best_lex[0]} b={best_lex[1]} title x{best_lex[2]}": lex_grid[best_lex],
        f"dense title share {best_dense}": dense_grid[best_dense],
        f"hybrid RRF k={best_fusion[0]} w(dense,lex)={best_fusion[1]}": fuse(
            dense_grid[best_dense], lex_grid[best_lex], best_fusion[0], best_fusion[1]
        ),
    }
    for name, rankings in systems.items():
        dr, dt = split(rankings, dev)
        tr, tt = split(rankings, ~dev)
        dev_m, test_m = recall_at(dr, dt), recall_at(tr, tt)
        table[name] = {"dev": dev_m, "test": test_m}
        rows_out.append([name, dev_m["R@5"], test_m["R@1"], test_m["R@5"], test_m["R@10"]])
    print_table(
        ["system", "dev R@5", "test R@1", "test R@5", "test R@10"],
        rows_out,
        title="openoffice duplicates -> master (test = pairs not used for tuning)",
    )

    # ---- the chosen hybrid through the real HybridSearcher (same numbers, and per-query latency)
    dense_vecs = normalise(text_vecs + best_dense * title_vecs) if best_dense else text_vecs
    vindex = VectorIndex(dense_vecs.shape[1])
    vindex.add_many(ids, dense_vecs)
    lindex = LexicalIndex(k1=best_lex[0], b=best_lex[1], field_weights={"title": best_lex[2]})
    lindex.add_many(ids, fields)
    searcher = HybridSearcher(
        vindex,
        lindex,
        None,
        rrf_k=best_fusion[0],
        candidates=DEPTH,
        dense_weight=best_fusion[1][0],
        lexical_weight=best_fusion[1][1],
    )
    test_idx = np.flatnonzero(~dev)
    lat, rankings = [], []
    for j in test_idx:
        start = time.perf_counter()
        hits = searcher.search(fields[q_rows[j]], 10, vector=dense_vecs[q_rows[j]], exclude=excludes[j])
        lat.append(time.perf_counter() - start)
        rankings.append([h.id for h in hits])
    via_class = recall_at(rankings, [targets[j] for j in test_idx])
    print(
        f"\nHybridSearcher on test: R@1 {via_class['R@1']:.3f}  R@5 {via_class['R@5']:.3f}  "
        f"R@10 {via_class['R@10']:.3f}; query p50 {np.percentile(lat, 50) * 1e3:.1f} ms, "
        f"p95 {np.percentile(lat, 95) * 1e3:.1f} ms (encoding excluded)"
    )

    # ---- incremental lexical update: add one report, time until a search finds it
    start = time.perf_counter()
    lindex.add(10**9, {"title": "zzqx unique crash token", "description": "writer crashes"})
    found = lindex.search("zzqx", 1)
    lex_update = time.perf_counter() - start
    assert found and found[0][0] == 10**9
    print(f"lexical add -> searchable: {lex_update * 1e3:.0f} ms ({len(lindex)} documents, one rebuild)")

    results["openoffice"] = {
        "reports": len(ids),
        "queries": len(q_bugs),
        "dev_queries": int(dev.sum()),
        "test_queries": int((~dev).sum()),
        "chosen": {
            "bm25_k1": best_lex[0],
            "bm25_b": best_lex[1],
            "title_weight": best_lex[2],
            "dense_title_share": best_dense,
            "rrf_k": best_fusion[0],
            "weights_dense_lexical": best_fusion[1],
        },
        "systems": table,
        "hybrid_searcher_test": via_class,
        "hybrid_query_ms_p50": float(np.percentile(lat, 50) * 1e3),
        "hybrid_query_ms_p95": float(np.percentile(lat, 95) * 1e3),
        "lexical_add_to_searchable_ms": lex_update * 1e3,
    }
    return results["openoffice"]["chosen"]


def run_topics(results: dict, chosen: dict) -> None:
    """precision@5 of the same topic group among the 5 nearest tickets (self excluded)."""
    docs, topics = load_topics()
    vecs = cached_embeddings(docs, tag="topics")
    ids = list(range(len(docs)))
    excludes = [{i} for i in ids]
    lex = lexical_rankings(ids, docs, docs, excludes, k1=1.2, b=0.75, title_weight=1)
    dense = dense_rankings(ids, vecs, vecs, excludes)
    systems = {
        "lexical BM25": lex,
        "dense MiniLM": dense,
        "hybrid RRF k=60": fuse(dense, lex, 60),
        f"hybrid RRF k={chosen['rrf_k']} w={chosen['weights_dense_lexical']} (openoffice dev)": fuse(
            dense, lex, chosen["rrf_k"], chosen["weights_dense_lexical"]
        ),
    }
    rows, out = [], {}
    for name, rankings in systems.items():
        # A query with fewer than 5 results (BM25 finds no shared term) scores its missing slots as wrong.
        p5 = float(np.mean([sum(topics[j] == topics[i] for j in r[:5]) / 5 for i, r in enumerate(rankings)]))
        out[name] = p5
        rows.append([name, p5])
    prior = float(sum((np.array(topics) == t).mean() ** 2 for t in set(topics)))
    rows.append(["random (same-topic prior)", prior])
    print_table(["system", "P@5 same topic"], rows, title=f"it_tickets_topics: {len(docs)} tickets")
    results["topics"] = {"tickets": len(docs), "precision_at_5": out, "random_prior": prior}


def main() -> None:
    """Run both evaluations and write benchmarks/results/bench_similar.json."""
    argparse.ArgumentParser(description=__doc__).parse_args()
    results: dict = {}
    start = time.perf_counter()
    chosen = run_openoffice(results)
    run_topics(results, chosen)
    results["seconds"] = time.perf_counter() - start
    write_results("bench_similar", results)


if __name__ == "__main__":
    main()
