"""Similar-incident retrieval on real data: lexical (BM25) vs dense vs hybrid, as the service runs them.

1. openoffice_duplicates.csv: every report (both sides, deduplicated by bug id) is indexed the way the
   service indexes a ticket (``build_doc``: the embedded text is title + newline + description, BM25
   sees the fields title and body); each duplicate queries the index (itself excluded) and we measure
   recall@1/5/10 of its master. Settings (BM25 k1, b, title weight; fusion method, weights, RRF k,
   candidates) are compared on a fixed dev part of the pairs (~30%, by a hash of the duplicate's id)
   only. The service's defaults in ``itsm_ai/config.py`` are the dev choice; the table reports the
   service configuration (built by ``new_lexical_index`` / ``new_hybrid_searcher``) on dev and test,
   next to the old defaults and a TF-IDF cosine baseline. The run says so if the dev choice and the
   service defaults ever disagree.
2. it_tickets_topics.csv: precision@5 of the same topic group among the 5 most similar tickets, for the
   service configuration in each mode.

Run: .venv/bin/python -m benchmarks.bench_similar  (embeddings are cached under benchmarks/results/cache)
CI: ``--tiny``: part 2 only, on the topics slice shipped in itsm_ai/demo, with the offline hashing encoder.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks._knowledge_data import (
    DATA_DIR,
    DEMO_DIR,
    cached_embeddings,
    is_dev_pair,
    load_openoffice,
    load_topics,
    print_table,
    write_results,
)
from itsm_ai.config import Settings
from itsm_ai.knowledge.retrieval.documents import INCIDENT, build_doc
from itsm_ai.knowledge.retrieval.encoders import HashingEncoder
from itsm_ai.knowledge.retrieval.factory import new_hybrid_searcher, new_lexical_index
from itsm_ai.knowledge.retrieval.hybrid import HybridSearcher
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex

KS = (1, 5, 10)
MODES = ("lexical", "dense", "hybrid")
# Dev grids. BM25 first (lexical mode alone), then the fusion with the chosen BM25.
BM25_GRID = list(itertools.product((1.2, 1.6, 2.0), (0.75, 0.9, 1.0), (1, 2, 3)))
FUSION_GRID: list[dict[str, Any]] = [
    {
        "knowledge_hybrid_fusion": "rrf",
        "knowledge_hybrid_rrf_k": k,
        "knowledge_hybrid_dense_weight": wd,
        "knowledge_hybrid_lexical_weight": 1.0,
        "knowledge_hybrid_candidates": n,
    }
    for n, k, wd in itertools.product((50, 100), (10, 30, 60), (1.0, 1.5, 2.0))
] + [
    {
        "knowledge_hybrid_fusion": method,
        "knowledge_hybrid_lexical_weight": wl,
        "knowledge_hybrid_dense_weight": 1.0,
        "knowledge_hybrid_candidates": n,
    }
    for n, method, wl in itertools.product(
        (50, 100), ("zscore", "minmax"), (0.25, 0.33, 0.43, 0.54, 0.67, 1.0)
    )
]
BM25_KEYS = ("knowledge_bm25_k1", "knowledge_bm25_b", "knowledge_bm25_title_weight")
FUSION_KEYS = (
    "knowledge_hybrid_fusion",
    "knowledge_hybrid_rrf_k",
    "knowledge_hybrid_dense_weight",
    "knowledge_hybrid_lexical_weight",
    "knowledge_hybrid_candidates",
)


def recall_at(rankings: Sequence[Sequence[int]], targets: Sequence[int], ks=KS) -> dict[str, float]:
    """recall@k of one relevant id per query."""
    return {
        f"R@{k}": float(np.mean([t in r[:k] for r, t in zip(rankings, targets, strict=True)])) for k in ks
    }


def split(rankings: Sequence[Sequence[int]], targets: Sequence[int], mask: np.ndarray):
    """The rankings and targets of the queries where mask is true."""
    keep = np.flatnonzero(mask)
    return [rankings[j] for j in keep], [targets[j] for j in keep]


def dev_score(metrics: dict[str, float]) -> float:
    """What the dev grids maximise: recall@5, ties broken by recall@10."""
    return metrics["R@5"] + 0.001 * metrics["R@10"]


class Corpus:
    """Indexed documents plus the queries (field dicts, vectors, excluded ids) of one data set.

    ``links``: known confirmed duplicates (duplicate id -> master id), held in the payloads like the service's
    ``duplicate_of``, so a searcher with ``knowledge_collapse_duplicates`` lists masters instead. Only links
    from training pairs: an evaluated pair's own link would hand over its answer.
    """

    def __init__(
        self,
        ids: list[int],
        docs: list[Any],
        vectors: np.ndarray,
        query_rows: Sequence[int],
        links: Mapping[int, int] | None = None,
    ):
        self.ids, self.docs, self.vectors = ids, docs, vectors
        self.query_rows = list(query_rows)
        self.links = dict(links or {})
        self.vindex = VectorIndex(vectors.shape[1])
        payloads = [{"duplicate_of": self.links[i]} if i in self.links else {} for i in ids]
        self.vindex.add_many(ids, vectors, payloads)

    def searcher(self, settings: Settings) -> HybridSearcher:
        """The service's searcher for these settings over this corpus."""
        lexical = new_lexical_index(settings)
        lexical.add_many(self.ids, self.docs)
        return new_hybrid_searcher(self.vindex, lexical, None, settings)

    def rankings(self, searcher: HybridSearcher, mode: str, rows: Sequence[int] | None = None, k: int = 10):
        """Top-k ids per query (query itself excluded)."""
        out = []
        for r in self.query_rows if rows is None else rows:
            hits = searcher.search(self.docs[r], k, mode=mode, vector=self.vectors[r], exclude={self.ids[r]})
            out.append([h.id for h in hits])
        return out


def tfidf_rankings(doc_texts: list[str], query_rows: Sequence[int], ids: list[int]) -> list[list[int]]:
    """Plain TF-IDF cosine baseline (scikit-learn defaults)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer().fit_transform(doc_texts)
    sims = (matrix[list(query_rows)] @ matrix.T).toarray()
    out = []
    for row, q in zip(sims, query_rows, strict=True):
        row[q] = -np.inf
        out.append([ids[j] for j in np.argsort(-row, kind="stable")[:10]])
    return out


def tune_on_dev(corpus: Corpus, dev_rows: list[int], dev_targets: list[int]) -> dict[str, Any]:
    """Choose BM25 and fusion settings on the dev queries only."""
    t0 = time.perf_counter()
    base = Settings().model_dump()
    bm25 = {}
    for k1, b, tw in BM25_GRID:
        s = Settings(
            **{**base, "knowledge_bm25_k1": k1, "knowledge_bm25_b": b, "knowledge_bm25_title_weight": tw}
        )
        bm25[(k1, b, tw)] = recall_at(corpus.rankings(corpus.searcher(s), "lexical", dev_rows), dev_targets)
    best_bm25 = max(bm25, key=lambda c: dev_score(bm25[c]))
    print(f"  BM25 grid on dev: {len(bm25)} settings in {time.perf_counter() - t0:.0f} s; best {best_bm25}")
    t0 = time.perf_counter()
    chosen_bm25 = dict(zip(BM25_KEYS, best_bm25, strict=True))
    lexical = new_lexical_index(Settings(**{**base, **chosen_bm25}))
    lexical.add_many(corpus.ids, corpus.docs)
    fusion = []
    for params in FUSION_GRID:
        s = Settings(**{**base, **chosen_bm25, **params})
        searcher = new_hybrid_searcher(corpus.vindex, lexical, None, s)
        fusion.append((params, recall_at(corpus.rankings(searcher, "hybrid", dev_rows), dev_targets)))
    best_params, best_m = max(fusion, key=lambda pm: dev_score(pm[1]))
    print(f"  fusion grid on dev: {len(fusion)} settings in {time.perf_counter() - t0:.0f} s")
    top = sorted(fusion, key=lambda pm: -dev_score(pm[1]))[:5]
    for params, m in top:
        print(f"    {_short(params)}  dev R@5 {m['R@5']:.3f}  R@10 {m['R@10']:.3f}")
    full = Settings(**{**base, **chosen_bm25, **best_params}).model_dump()
    return {key: full[key] for key in (*BM25_KEYS, *FUSION_KEYS)}


def _short(params: dict[str, Any]) -> str:
    return " ".join(f"{k.removeprefix('knowledge_')}={v}" for k, v in params.items())


def run_openoffice(results: dict, *, tune: bool) -> None:
    """Duplicate -> master retrieval: the service configuration on dev and test, next to the alternatives."""
    reports, pairs = load_openoffice()
    ids = reports["bug_id"].astype(int).tolist()
    row_of = {bug: r for r, bug in enumerate(ids)}
    docs = [
        build_doc(INCIDENT, 1, t, d, "new", None, None)
        for t, d in zip(reports["title"], reports["description"], strict=True)
    ]
    vectors = cached_embeddings([d.text for d in docs], tag="openoffice_service")
    q_bugs = pairs["bug_id_dup"].astype(int).tolist()
    targets = pairs["bug_id_master"].astype(int).tolist()
    corpus = Corpus(ids, [d.fields for d in docs], vectors, [row_of[b] for b in q_bugs])
    dev = np.array([is_dev_pair(b) for b in q_bugs])
    print(
        f"openoffice: {len(ids)} reports indexed, {len(q_bugs)} queries "
        f"({dev.sum()} dev / {(~dev).sum()} test)"
    )
    service = Settings()
    configured = {key: getattr(service, key) for key in (*BM25_KEYS, *FUSION_KEYS)}
    chosen = None
    if tune:
        dev_idx = np.flatnonzero(dev)
        chosen = tune_on_dev(corpus, [corpus.query_rows[j] for j in dev_idx], [targets[j] for j in dev_idx])
        same = all(
            chosen[k] == configured[k]
            for k in (*BM25_KEYS, *FUSION_KEYS)
            if k != "knowledge_hybrid_rrf_k" or chosen["knowledge_hybrid_fusion"] == "rrf"
        )
        print(f"  dev choice: {_short(chosen)}")
        print("  service defaults " + ("= the dev choice" if same else f"DIFFER: {_short(configured)}"))

    old = Settings(
        **{
            **service.model_dump(),
            "knowledge_bm25_k1": 1.2,
            "knowledge_bm25_b": 0.75,
            "knowledge_bm25_title_weight": 2,
            "knowledge_hybrid_fusion": "rrf",
            "knowledge_hybrid_rrf_k": 60,
            "knowledge_hybrid_candidates": 50,
            "knowledge_hybrid_dense_weight": 1.0,
            "knowledge_hybrid_lexical_weight": 1.0,
        }
    )
    service_searcher = corpus.searcher(service)
    systems = {"tfidf cosine (baseline)": tfidf_rankings([d.text for d in docs], corpus.query_rows, ids)}
    systems["lexical BM25 (old default k1=1.2 b=0.75 title x2)"] = corpus.rankings(
        corpus.searcher(old), "lexical"
    )
    systems["hybrid RRF k=60 (old default)"] = corpus.rankings(corpus.searcher(old), "hybrid")
    lat: list[float] = []
    for mode in MODES:
        rankings = []
        for r in corpus.query_rows:
            start = time.perf_counter()
            hits = service_searcher.search(corpus.docs[r], 10, mode=mode, vector=vectors[r], exclude={ids[r]})
            if mode == "hybrid":
                lat.append(time.perf_counter() - start)
            rankings.append([h.id for h in hits])
        systems[f"SERVICE {mode}"] = rankings

    table, rows_out = {}, []
    for name, rankings in systems.items():
        dev_m = recall_at(*split(rankings, targets, dev))
        test_m = recall_at(*split(rankings, targets, ~dev))
        table[name] = {"dev": dev_m, "test": test_m}
        rows_out.append([name, *(dev_m[f"R@{k}"] for k in KS), *(test_m[f"R@{k}"] for k in KS)])
    print_table(
        ["system", "dev R@1", "dev R@5", "dev R@10", "test R@1", "test R@5", "test R@10"],
        rows_out,
        title="openoffice duplicates -> master (test = pairs never used for tuning)",
    )
    print(f"  service configuration: {_short(configured)}")
    print(
        f"  SERVICE hybrid query p50 {np.percentile(lat, 50) * 1e3:.1f} ms, "
        f"p95 {np.percentile(lat, 95) * 1e3:.1f} ms (encoding excluded)"
    )

    # Incremental lexical update: add one report, time until a search finds it.
    lindex = service_searcher.lexical_index
    start = time.perf_counter()
    lindex.add(10**9, {"title": "zzqx unique crash token", "body": "writer crashes"})
    found = lindex.search("zzqx", 1)
    lex_update = time.perf_counter() - start
    assert found and found[0][0] == 10**9
    print(f"lexical add -> searchable: {lex_update * 1e3:.0f} ms ({len(lindex)} documents, one rebuild)")

    results["openoffice"] = {
        "reports": len(ids),
        "queries": len(q_bugs),
        "dev_queries": int(dev.sum()),
        "test_queries": int((~dev).sum()),
        "service_settings": configured,
        "dev_choice": chosen,
        "systems": table,
        "hybrid_query_ms_p50": float(np.percentile(lat, 50) * 1e3),
        "hybrid_query_ms_p95": float(np.percentile(lat, 95) * 1e3),
        "lexical_add_to_searchable_ms": lex_update * 1e3,
    }


def run_topics(results: dict, *, tiny: bool = False) -> None:
    """precision@5 of the same topic group among the 5 nearest tickets (self excluded), service settings."""
    if tiny:
        docs, topics = load_topics(DEMO_DIR)
        vecs = HashingEncoder().encode(docs)
    else:
        docs, topics = load_topics()
        vecs = cached_embeddings(docs, tag="topics")
    ids = list(range(len(docs)))
    corpus = Corpus(ids, docs, vecs, ids)
    service = Settings()
    old = Settings(
        **{
            **service.model_dump(),
            "knowledge_hybrid_fusion": "rrf",
            "knowledge_hybrid_rrf_k": 60,
            "knowledge_hybrid_candidates": 50,
            "knowledge_hybrid_dense_weight": 1.0,
            "knowledge_hybrid_lexical_weight": 1.0,
        }
    )
    searcher = corpus.searcher(service)
    systems = {f"SERVICE {mode}": corpus.rankings(searcher, mode, k=5) for mode in MODES}
    systems["hybrid RRF k=60 (old default)"] = corpus.rankings(corpus.searcher(old), "hybrid", k=5)
    rows, out = [], {}
    for name, rankings in systems.items():
        # A query with fewer than 5 results (BM25 finds no shared term) scores its missing slots as wrong.
        p5 = float(np.mean([sum(topics[j] == topics[i] for j in r[:5]) / 5 for i, r in enumerate(rankings)]))
        out[name] = p5
        rows.append([name, p5])
    prior = float(sum((np.array(topics) == t).mean() ** 2 for t in set(topics)))
    rows.append(["random (same-topic prior)", prior])
    print_table(["system", "P@5 same topic"], rows, title=f"it_tickets_topics: {len(docs)} tickets")
    print(f"SERVICE hybrid P@5 vs random prior: x{out['SERVICE hybrid'] / max(prior, 1e-9):.2f}")
    results["topics"] = {"tickets": len(docs), "precision_at_5": out, "random_prior": prior}


def main(argv: list[str] | None = None) -> int:
    """Run both evaluations and write benchmarks/results/bench_similar.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--no-tune", action="store_true", help="skip the dev grids; report the service configuration only"
    )
    parser.add_argument(
        "--tiny", action="store_true", help="CI size: the demo topics slice only, hashing encoder"
    )
    args = parser.parse_args(argv)
    results: dict = {}
    start = time.perf_counter()
    if args.tiny:
        run_topics(results, tiny=True)
    else:
        if not (DATA_DIR / "openoffice_duplicates.csv").is_file():
            print(f"real data not found in {DATA_DIR}", file=sys.stderr)
            return 2
        run_openoffice(results, tune=not args.no_tune)
        run_topics(results)
    results["seconds"] = time.perf_counter() - start
    write_results("bench_similar_tiny" if args.tiny else "bench_similar", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
