"""Fine-tuned encoder vs the stock one on the OpenOffice duplicates, as the service searches.

The pairs are split by a hash of the duplicate's bug id: test = the pairs with crc32 % 10 >= 7 (about 30%,
all inside bench_similar's test part, so never used to tune the fusion), train = every other pair. The
encoder is fine-tuned on the training pairs (MultipleNegativesRankingLoss, in-batch negatives, the service's
`fine_tune` with the settings' epochs, batch size, learning rate, sequence length, loss and WiSE-FT blend),
then every report is indexed the way the service indexes a ticket (``build_doc``) and each test duplicate
queries it (itself excluded): recall@1/5/10 of its master for lexical (BM25), stock dense, fine-tuned dense
and the service's hybrid with each, side by side. Also: training time per epoch, re-embedding throughput,
hybrid query latency with each encoder (same dimension), and topic precision@5 on it_tickets_topics.csv
(no loss wanted).
Hybrid is reported with and without collapsing the known confirmed duplicates
(``knowledge_collapse_duplicates``: the training pairs' links, dup -> master, held in the index payloads like
the service's ``duplicate_of``; an evaluated pair's link never): a known duplicate is listed as its master.
``--curve``: recall@5 after 250, 500, 1,000 and all training pairs (collapsing only each prefix's links).
``--dev``: choose on the training pairs only: the dev pairs (crc32 % 10 < 2, inside the training part) play
the test pairs and the encoder trains on the other training pairs; also the fusion grid of bench_similar on
the dev queries with the tuned encoder. Epochs, learning rate and fusion weights are picked this way.

``--hard-negatives``: each training pair also gets its mined hard negative (`mine_hard_negatives`: the stock
encoder's nearest report that the training pairs do not link to the duplicate, below 0.95x the pair's score).

Measured (2026-12-06, the 2-core machine shared by several sessions, load 7-15):
- test, settings' recipe, time box hit at 73 of 87 steps: hybrid R@5 0.724 vs stock hybrid 0.668.
- ``--dev --epochs 1 --max-minutes 40`` (61 of 62 steps, 2,454 s per epoch), 979 pairs, 398 dev pairs:
  R@1/5/10 BM25 0.379/0.588/0.643, stock dense 0.420/0.618/0.704, fine-tuned dense 0.427/0.656/0.744,
  hybrid stock 0.450/0.656/0.729, hybrid fine-tuned 0.450/0.678/0.754; the configured fusion (zscore,
  BM25 x0.33, 100 candidates) is also the dev grid's best with the tuned encoder: kept.
- ``--dev --epochs 1 --hard-negatives --max-minutes 50`` (62 of 62 steps, 2,939 s per epoch): fine-tuned dense
  0.435/0.656/0.756, hybrid fine-tuned 0.455/0.676/0.759: one dev query fewer at R@5 than without them, so
  ``encoder_train_hard_negatives`` stays off (dev's best fusion with it, BM25 x0.43, gains 0.005: noise).
- quiet machine, ``--dev --epochs 2 --learning-rate 5e-5``: 124 steps, 116 s per epoch: hybrid fine-tuned
  0.450/0.686/0.774 (fusion grid: zscore BM25 x0.25 0.693 at R@5, 3 queries: noise, kept);
  ``--dev --epochs 3``: 186 steps, 103 s per epoch: 0.465/0.686/0.759. Chosen: 2 epochs at 5e-5 (settings).
- test, quiet machine, 620 pairs, R@1/5/10: ``--epochs 1`` (86 steps, 298 s): hybrid fine-tuned
  0.468/0.721/0.794; ``--epochs 2 --learning-rate 5e-5`` (172 steps, 150 s per epoch): fine-tuned dense
  0.458/0.700/0.792, hybrid fine-tuned 0.474/0.729/0.803; stock hybrid 0.465/0.687/0.768, BM25
  0.384/0.598/0.677. Topic P@5 (tuned hybrid vs stock 0.719): 0.716 (2 epochs), 0.719 (1 epoch).
- 2026-12-06 (second session, load 7-10, training at priority): WiSE-FT sweep (``--alphas``: one training,
  blends (1-a)*stock + a*fine-tuned), dev, R@1/5/10, topic P@5 = hybrid on it_tickets_topics (stock 0.719):
  ``--dev --alphas 0.5,0.7,0.85,1`` (settings' recipe: 2 epochs, 5e-5, batch 16; 124 steps, 209 s per
  epoch; a=1 reproduces 0.450/0.686/0.774): a=0.5 dense 0.430/0.653/0.751, hybrid 0.455/0.676/0.764, P@5
  0.719; a=0.7 dense 0.430/0.663/0.756, hybrid 0.455/0.681/0.766, P@5 0.717; a=0.85 dense 0.427/0.668/0.744,
  hybrid 0.450/0.683/0.771, P@5 0.716; a=1 dense 0.432/0.663/0.741, hybrid 0.450/0.686/0.774, P@5 0.716.
  Fusion grid (a=1): zscore BM25 x0.25 0.457/0.693/0.771 (3 queries at R@5, R@10 lower: noise, kept).
  Stock topic P@5 exactly 0.71890; a=0.5 0.71896, a=0.7 0.71728, a=0.85 0.71643, a=1 0.71585.
- ``--dev --batch-size 64 --symmetric --epochs 3 --alphas 0.5,0.7,0.85,1`` (lr 5e-5; 48 steps, 202 s per
  epoch; 4x the in-batch negatives, loss in both directions): a=0.5 dense 0.437/0.666/0.761, hybrid
  0.457/0.691/0.766, P@5 0.71851; a=0.7 dense 0.435/0.671/0.761, hybrid 0.457/0.701/0.781, P@5 0.71870;
  a=0.85 dense 0.432/0.673/0.754, hybrid 0.465/0.696/0.781, P@5 0.71870; a=1 dense 0.440/0.683/0.756,
  hybrid 0.457/0.696/0.776, P@5 0.71818. Fusion grid (a=1): best zscore BM25 x0.33, 50 candidates, R@5
  0.698 (1 query): the configured fusion stays.
- Chosen (rule: best dev hybrid R@5, ties R@10, no topic P@5 loss at the 3 decimals the target is stated
  in): 3 epochs at 5e-5, batch 64, symmetric loss, a=0.7 (settings): dev hybrid 0.457/0.701/0.781 vs
  0.450/0.686/0.774 for the previous recipe; topic P@5 0.719 (0.71870 vs stock 0.71890: 3 of 15,425
  neighbours; the previous recipe lost 0.0031). Time did not allow separate runs of batch 64 alone, the
  symmetric loss alone or the sequence length (128 kept).
- test, chosen recipe, scored once, ``--curve --max-minutes 30`` (66 steps, 678 s, 226 s per epoch at load
  about 9): R@1/5/10 BM25 0.384/0.598/0.677, stock dense 0.431/0.650/0.721, fine-tuned dense
  0.450/0.695/0.787, hybrid stock 0.465/0.687/0.768, hybrid fine-tuned 0.484/0.740/0.800 (target R@5 0.75:
  not reached). Topic P@5 hybrid tuned 0.719 vs stock 0.719 (dense 0.710 vs 0.711). Re-embedding 33 vs 19
  docs/s, hybrid query p50 1.2 ms with either.
  Topic P@5 exactly: tuned hybrid 0.71948 vs stock 0.71890. Learning curve (hybrid / dense R@5, train s):
  250 pairs 0.716/0.682 (128 s), 500 0.718/0.689 (235 s), 1,000 0.734/0.695 (410 s), 1,377 0.740/0.695.
- Collapsing known duplicates (issue 19 follow-up), ``--dev --max-minutes 30`` (settings' recipe, 48 of 48
  steps, 1,385 s, 462 s per epoch at load 4; 979 training pairs = the known links, 398 dev pairs): R@1/5/10
  hybrid stock 0.450/0.656/0.729 -> with collapse 0.482/0.696/0.764; hybrid fine-tuned 0.457/0.701/0.781 ->
  0.487/0.729/0.812 (BM25 0.379/0.588/0.643, stock dense 0.420/0.618/0.704, fine-tuned dense
  0.435/0.671/0.761). The test pairs are left to the lead (scored once after the merge).
- 2026-12-06, third session, quiet machine (load 1-3): ``--dev --batch-size 64 --symmetric --epochs 3
  --learning-rate 1e-4 --alphas 0.5,0.7,0.85,1`` (48 steps, 197 s per epoch): hybrid a=0.5 0.465/0.706/0.779
  (P@5 0.71877), a=0.7 0.460/0.706/0.776 (0.71870; collapsed 0.490/0.739/0.809), a=0.85 0.462/0.701/0.776,
  a=1 0.462/0.704/0.774 (0.71637). ``--max-seq-length 256`` at batch 64: killed by the kernel (15 GB, out of
  memory); not pursued. By the rule (collapsed R@5) 1e-4 won; the test run of it (scored once: collapsed
  0.534/0.777/0.834, plain 0.485/0.748/0.800) lost topic P@5 (tuned hybrid 0.717 vs stock 0.719), so the
  recipe that keeps it stays (5e-5): chosen by the topic constraint, not by the OpenOffice test score.
- test, shipped recipe (5e-5) with collapse, ``--curve --max-minutes 30`` (66 steps, 323 s, 108 s per epoch,
  quiet): R@1/5/10 hybrid + collapse fine-tuned **0.534/0.774/0.832** (target 0.75: reached), stock
  0.513/0.726/0.797; plain hybrid 0.484/0.740/0.800 and 0.465/0.687/0.768. Topic P@5 tuned hybrid 0.71948 vs
  stock 0.71890. Re-embedding 80 vs 36 docs/s, hybrid query p50 1.4 ms with either. Learning curve (dense /
  hybrid / hybrid + collapse R@5, train s): 250 0.682/0.716/0.724 (67 s), 500 0.689/0.718/0.729 (122 s), 1,000
  0.695/0.734/0.771 (254 s), 1,377 0.695/0.740/0.774.
Run: nice -n 10 .venv/bin/python -m benchmarks.bench_encoder [--max-minutes 20] [--epochs N]
     [--learning-rate X] [--curve] [--dev] [--hard-negatives] [--batch-size N] [--max-seq-length N]
     [--symmetric] [--interpolation A] [--alphas A,B,...]
CI: ``--tiny``: 60 pairs, two training steps (prints ``skipped: ...`` without ../shared/data).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._knowledge_data import (
    DATA_DIR,
    RESULTS_DIR,
    cached_embeddings,
    load_openoffice,
    load_topics,
    print_table,
    write_results,
)
from benchmarks.bench_similar import FUSION_GRID, Corpus, _short, dev_score, recall_at
from itsm_ai.config import Settings
from itsm_ai.embeddings import BUNDLED_MODEL, Encoder, get_encoder, model_folder
from itsm_ai.encoder.training import Pairs, fine_tune, interpolate_folders, mine_hard_negatives
from itsm_ai.knowledge.retrieval.documents import INCIDENT, build_doc

KS = (1, 5, 10)
CURVE = (250, 500, 1000)
TINY_CURVE = (10, 20)


def is_test_pair(bug_id_dup: int) -> bool:
    """The fixed test part (~30%): inside bench_similar's test part (crc32 % 10 >= 3), never tuned on."""
    return zlib.crc32(str(int(bug_id_dup)).encode()) % 10 >= 7


def is_dev_pair(bug_id_dup: int) -> bool:
    """The dev part (~20%, inside the training part): what epochs, learning rate and fusion are chosen on."""
    return zlib.crc32(str(int(bug_id_dup)).encode()) % 10 < 2


def _train(
    pairs: Pairs,
    folder: Path,
    settings: Settings,
    *,
    max_seconds: float,
    epochs: int,
    max_steps: int | None = None,
    learning_rate: float | None = None,
    negatives: list[str] | None = None,
    recipe: dict | None = None,
    interpolation: float = 1.0,
) -> dict[str, Any]:
    recipe = recipe or {}
    return fine_tune(
        pairs,
        base_folder=model_folder(BUNDLED_MODEL),
        out_folder=folder,
        epochs=epochs,
        batch_size=recipe.get("batch_size") or settings.encoder_train_batch_size,
        learning_rate=learning_rate or settings.encoder_train_learning_rate,
        max_seq_length=recipe.get("max_seq_length") or settings.encoder_train_max_seq_length,
        max_seconds=max_seconds,
        max_steps=max_steps,
        negatives=negatives,
        symmetric=recipe.get("symmetric", settings.encoder_train_symmetric_loss),
        interpolation=interpolation,
        progress=_progress(time.perf_counter()),
    )


def _progress(start: float):
    """Prints every 10th step with the elapsed minutes (a long run on a busy machine shows it is alive)."""

    def report(fraction: float, message: str) -> None:
        if message.startswith("step ") and int(message.split()[1].split("/")[0]) % 10 == 0:
            print(f"    {message} ({(time.perf_counter() - start) / 60:.1f} min)", flush=True)

    return report


def _embed(encoder: Any, texts: list[str]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    vectors = encoder.encode(texts)
    return vectors, len(texts) / max(time.perf_counter() - start, 1e-9)


def _evaluate(corpus: Corpus, settings: Settings, rows: list[int], targets: list[int]) -> dict[str, dict]:
    """recall@k per mode without collapsing duplicates, and hybrid collapsing the corpus's known links."""
    searcher = corpus.searcher(settings.model_copy(update={"knowledge_collapse_duplicates": False}))
    out = {}
    for mode in ("lexical", "dense", "hybrid"):
        out[mode] = recall_at(corpus.rankings(searcher, mode, rows=rows), targets, KS)
    searcher.collapse_duplicates = True  # the same BM25 index: building it again costs seconds
    out["hybrid_collapse"] = recall_at(corpus.rankings(searcher, "hybrid", rows=rows), targets, KS)
    return out


def _latency(corpus: Corpus, settings: Settings, rows: list[int]) -> float:
    searcher = corpus.searcher(settings)
    lat = []
    for r in rows:
        start = time.perf_counter()
        searcher.search(corpus.docs[r], 10, mode="hybrid", vector=corpus.vectors[r], exclude={corpus.ids[r]})
        lat.append(time.perf_counter() - start)
    return float(np.percentile(lat, 50) * 1e3)


def run(
    results: dict,
    *,
    tiny: bool,
    max_minutes: float,
    epochs: int,
    curve: bool,
    dev: bool = False,
    learning_rate: float | None = None,
    hard_negatives: bool = False,
    recipe: dict | None = None,
    interpolation: float | None = None,
    alphas: list[float] | None = None,
    tag: str = "",
) -> None:
    """Train on the training pairs, compare the encoders on the test pairs (and topics when not tiny).

    With `dev` the dev pairs are evaluated instead and the test pairs are not used at all. The model is
    trained once; `interpolation` (default: the settings') and each of `alphas` are WiSE-FT blends of it
    with the stock weights (`interpolate_folders`), so a sweep costs no retraining."""
    settings = Settings()
    recipe = recipe or {}
    alpha = settings.encoder_train_interpolation if interpolation is None else interpolation
    reports, pairs = load_openoffice()
    if tiny:
        pairs = pairs.iloc[:60]
        keep = set(pairs["bug_id_dup"]) | set(pairs["bug_id_master"])
        reports = reports[reports["bug_id"].isin(keep)].reset_index(drop=True)
    ids = reports["bug_id"].astype(int).tolist()
    row_of = {bug: r for r, bug in enumerate(ids)}
    docs = [
        build_doc(INCIDENT, 1, t, d, "new", None, None)
        for t, d in zip(reports["title"], reports["description"], strict=True)
    ]
    texts = [d.text for d in docs]
    fields = [d.fields for d in docs]
    dups = pairs["bug_id_dup"].astype(int).tolist()
    masters = pairs["bug_id_master"].astype(int).tolist()
    test = [i for i, b in enumerate(dups) if is_test_pair(b)]
    train = [i for i, b in enumerate(dups) if not is_test_pair(b)]
    if dev:
        test = [i for i in train if is_dev_pair(dups[i])]
        train = [i for i in train if not is_dev_pair(dups[i])]
    split = "dev" if dev else "test"
    rng = np.random.default_rng(0)
    # A fixed shuffled order: the learning curve's prefixes are random samples.
    train = [train[i] for i in rng.permutation(len(train))]
    train_pairs = Pairs([texts[row_of[dups[i]]] for i in train], [texts[row_of[masters[i]]] for i in train])
    test_rows = [row_of[dups[i]] for i in test]
    test_targets = [masters[i] for i in test]
    # The confirmed duplicates a desk knows: the training pairs' links (never an evaluated pair's).
    train_links = [(dups[i], masters[i]) for i in train]
    links = dict(train_links)
    overlap = len({masters[i] for i in test} & {masters[i] for i in train})
    print(
        f"openoffice: {len(ids)} reports, {len(train)} training pairs, {len(test)} {split} pairs "
        f"({overlap} {split} masters also have a training duplicate)"
    )

    stock = get_encoder()
    if tiny:
        stock_vectors, stock_rate = _embed(stock, texts)
    else:
        stock_vectors = cached_embeddings(texts, tag="openoffice_service")
        _, stock_rate = _embed(stock, texts[:300])
    print(f"  stock vectors ready ({stock_rate:.0f} docs/s)", flush=True)
    negatives = None
    if hard_negatives:
        # Per training duplicate, the stock encoder's nearest report the training pairs do not link to it.
        a_rows = [row_of[dups[i]] for i in train]
        b_rows = [row_of[masters[i]] for i in train]
        negatives = mine_hard_negatives(
            train_pairs, texts, stock_vectors, stock_vectors[a_rows], stock_vectors[b_rows]
        )
        print(f"  mined {len(negatives)} hard negatives ({len(set(negatives))} distinct)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-encoder-") as tmp:
        stats = _train(
            train_pairs,
            Path(tmp) / "raw",
            settings,
            max_seconds=max_minutes * 60,
            epochs=epochs,
            max_steps=2 if tiny else None,
            learning_rate=learning_rate,
            negatives=negatives,
            recipe=recipe,
        )
        print(
            f"  trained {stats['steps']}/{stats['planned_steps']} steps on {len(train_pairs)} pairs in "
            f"{stats['seconds']:.0f} s ({stats['stopped']}); {stats['seconds_per_epoch']:.0f} s per epoch",
            flush=True,
        )
        folders = {}
        for a in dict.fromkeys([alpha, *(alphas or [])]):
            folders[a] = Path(tmp) / "raw" if a == 1 else Path(tmp) / f"alpha{a:g}"
            if a != 1:
                interpolate_folders(model_folder(BUNDLED_MODEL), Path(tmp) / "raw", folders[a], a)
        stats["interpolation"] = alpha
        tuned = Encoder(model_name="tuned", model_path=folders[alpha])
        tuned_vectors, tuned_rate = _embed(tuned, texts)
        name = _name(tiny, dev, tag)
        if not tiny:  # kept so the fusion chosen on dev can be applied later without training again
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            np.save(RESULTS_DIR / f"{name}_vectors.npy", tuned_vectors)
        stock_corpus = Corpus(ids, fields, stock_vectors, test_rows, links)
        tuned_corpus = Corpus(ids, fields, tuned_vectors, test_rows, links)
        stock_m = _evaluate(stock_corpus, settings, test_rows, test_targets)
        tuned_m = _evaluate(tuned_corpus, settings, test_rows, test_targets)
        systems = {
            "lexical BM25": stock_m["lexical"],
            "stock dense": stock_m["dense"],
            "fine-tuned dense": tuned_m["dense"],
            "SERVICE hybrid, stock encoder": stock_m["hybrid"],
            "SERVICE hybrid, fine-tuned encoder": tuned_m["hybrid"],
            "SERVICE hybrid + collapse, stock encoder": stock_m["hybrid_collapse"],
            "SERVICE hybrid + collapse, fine-tuned encoder": tuned_m["hybrid_collapse"],
        }
        print_table(
            ["system", *(f"{split} R@{k}" for k in KS)],
            [[name, *(m[f"R@{k}"] for k in KS)] for name, m in systems.items()],
            title=f"openoffice duplicates -> master, {len(test)} {split} pairs never trained on",
        )
        lat_stock = _latency(stock_corpus, settings, test_rows[:200])
        lat_tuned = _latency(tuned_corpus, settings, test_rows[:200])
        print(
            f"  re-embedding: fine-tuned {tuned_rate:.0f} docs/s vs stock {stock_rate:.0f} docs/s "
            f"(x{tuned_rate / max(stock_rate, 1e-9):.2f}); hybrid query p50 {lat_tuned:.1f} ms vs "
            f"{lat_stock:.1f} ms (x{lat_tuned / max(lat_stock, 1e-9):.2f}, same dimension)"
        )
        results["openoffice"] = {
            "split": split,
            "reports": len(ids),
            "train_pairs": len(train),
            "test_pairs": len(test),
            "test_masters_with_training_duplicates": overlap,
            "known_links": len(links),
            "training": stats,
            "systems": systems,
            "reembed_docs_per_s": {"stock": stock_rate, "tuned": tuned_rate},
            "hybrid_query_ms_p50": {"stock": lat_stock, "tuned": lat_tuned},
        }
        before, after = stock_m["hybrid"]["R@5"], tuned_m["hybrid"]["R@5"]
        ratio = after / max(before, 1e-9)
        print(f"fine-tuned hybrid R@5 {after:.3f} vs stock hybrid {before:.3f} (x{ratio:.2f})", flush=True)
        print(
            f"  collapsing the {len(links)} known duplicates: hybrid R@5 stock {before:.3f} -> "
            f"{stock_m['hybrid_collapse']['R@5']:.3f}, fine-tuned {after:.3f} -> "
            f"{tuned_m['hybrid_collapse']['R@5']:.3f}",
            flush=True,
        )
        write_results(name, results)  # kept if a later part dies
        if alphas:
            run_alphas(
                results,
                settings,
                folders,
                ids,
                fields,
                texts,
                test_rows,
                test_targets,
                tiny=tiny,
                known={alpha: tuned_vectors},
                links=links,
            )
            write_results(name, results)
        if dev:
            run_fusion_grid(results, settings, tuned_corpus, test_rows, test_targets)
        elif not tiny:
            run_topics(results, settings, stock, tuned)
        if curve:
            run_curve(
                results,
                settings,
                train_pairs,
                train_links,
                ids,
                fields,
                texts,
                test_rows,
                test_targets,
                max_minutes=max_minutes,
                epochs=epochs,
                full=tuned_m,
                tiny=tiny,
                learning_rate=learning_rate,
                negatives=negatives,
                recipe=recipe,
                interpolation=alpha,
            )


def run_alphas(
    results: dict,
    settings: Settings,
    folders: dict[float, Path],
    ids: list[int],
    fields: list,
    texts: list[str],
    rows: list[int],
    targets: list[int],
    *,
    tiny: bool,
    known: dict[float, np.ndarray] | None = None,
    links: dict[int, int] | None = None,
) -> None:
    """The WiSE-FT sweep: R@1/5/10 (dense, hybrid) and topic P@5 (hybrid, not when tiny) per blend."""
    topic_docs, topics = ([], []) if tiny else load_topics()
    table, out = [], {}
    for a in sorted(folders):
        encoder = Encoder(model_name=f"tuned-a{a:g}", model_path=folders[a])
        vectors = (known or {}).get(a)
        vectors = encoder.encode(texts) if vectors is None else vectors
        metrics = _evaluate(Corpus(ids, fields, vectors, rows, links), settings, rows, targets)
        p5 = None if tiny else _topic_p5(settings, encoder.encode(topic_docs), topic_docs, topics)
        out[a] = {
            "dense": metrics["dense"],
            "hybrid": metrics["hybrid"],
            "hybrid_collapse": metrics["hybrid_collapse"],
            "topics_hybrid_p5": p5,
        }
        table.append(
            [
                a,
                *(metrics["dense"][f"R@{k}"] for k in KS),
                *(metrics["hybrid"][f"R@{k}"] for k in KS),
                "-" if p5 is None else round(p5, 4),
            ]
        )
        print(f"    alpha {a:g}: hybrid R@5 {metrics['hybrid']['R@5']:.3f}", flush=True)
    print_table(
        ["alpha", "dense R@1", "R@5", "R@10", "hybrid R@1", "R@5", "R@10", "topic P@5"],
        table,
        title=f"WiSE-FT blends (1-a)*stock + a*fine-tuned, {len(rows)} queries",
    )
    results["interpolation_sweep"] = {str(a): m for a, m in out.items()}


def _topic_p5(settings: Settings, vectors: np.ndarray, docs: list[str], topics: list) -> float:
    """Hybrid precision@5 of the same topic among each ticket's 5 nearest tickets."""
    ids = list(range(len(docs)))
    corpus = Corpus(ids, docs, vectors, ids)
    rankings = corpus.rankings(corpus.searcher(settings), "hybrid", k=5)
    return float(np.mean([sum(topics[j] == topics[i] for j in r[:5]) / 5 for i, r in enumerate(rankings)]))


def _name(tiny: bool, dev: bool, recipe: str = "") -> str:
    return "bench_encoder" + ("_dev" if dev else "") + recipe + ("_tiny" if tiny else "")


def _recipe(
    epochs: int | None,
    learning_rate: float | None,
    hard_negatives: bool,
    recipe: dict | None = None,
    interpolation: float | None = None,
) -> str:
    """A results-file tag for a recipe other than the settings' (runs of several recipes side by side)."""
    recipe = recipe or {}
    return (
        (f"_e{epochs}" if epochs else "")
        + (f"_lr{learning_rate:g}" if learning_rate else "")
        + ("_hn" if hard_negatives else "")
        + (f"_b{recipe['batch_size']}" if recipe.get("batch_size") else "")
        + (f"_len{recipe['max_seq_length']}" if recipe.get("max_seq_length") else "")
        + ({True: "_sym", False: "_asym"}.get(recipe.get("symmetric"), ""))
        + (f"_a{interpolation:g}" if interpolation is not None else "")
    )


def run_fusion_grid(
    results: dict, settings: Settings, corpus: Corpus, rows: list[int], targets: list[int]
) -> None:
    """bench_similar's fusion grid on the dev queries with the tuned encoder (BM25 settings as configured)."""
    # Without collapsing duplicates, comparable with the grids recorded above.
    settings = settings.model_copy(update={"knowledge_collapse_duplicates": False})
    base = settings.model_dump()
    scored = []
    for params in FUSION_GRID:
        searcher = corpus.searcher(Settings(**{**base, **params}))
        scored.append((params, recall_at(corpus.rankings(searcher, "hybrid", rows=rows), targets, KS)))
    current = recall_at(corpus.rankings(corpus.searcher(settings), "hybrid", rows=rows), targets, KS)
    top = sorted(scored, key=lambda pm: -dev_score(pm[1]))[:5]
    print_table(
        ["fusion (dev)", "R@1", "R@5", "R@10"],
        [["configured", *(current[f"R@{k}"] for k in KS)]]
        + [[_short(p), *(m[f"R@{k}"] for k in KS)] for p, m in top],
        title=f"fusion grid on {len(rows)} dev queries, tuned encoder",
    )
    results["fusion_dev"] = {"configured": current, "top": [{"params": p, "metrics": m} for p, m in top]}


def run_topics(results: dict, settings: Settings, stock: Any, tuned: Any) -> None:
    """precision@5 of the same topic among the 5 nearest tickets, service hybrid, each encoder."""
    docs, topics = load_topics()
    ids = list(range(len(docs)))
    out = {}
    for name, vectors in (("stock", cached_embeddings(docs, tag="topics")), ("tuned", tuned.encode(docs))):
        corpus = Corpus(ids, docs, vectors, ids)
        searcher = corpus.searcher(settings)
        for mode in ("dense", "hybrid"):
            rankings = corpus.rankings(searcher, mode, k=5)
            out[f"{name} {mode}"] = float(
                np.mean([sum(topics[j] == topics[i] for j in r[:5]) / 5 for i, r in enumerate(rankings)])
            )
    title = f"it_tickets_topics: {len(docs)} tickets"
    print_table(["system", "P@5 same topic"], list(out.items()), title=title)
    results["topics_precision_at_5"] = out


def run_curve(
    results,
    settings,
    train_pairs,
    train_links,
    ids,
    fields,
    texts,
    test_rows,
    test_targets,
    *,
    max_minutes,
    epochs,
    full,
    tiny=False,
    learning_rate=None,
    negatives=None,
    recipe=None,
    interpolation=1.0,
) -> None:
    """recall@5 (dense, hybrid, hybrid collapsing the prefix's links) after the first 250, 500, 1,000
    training pairs, and all: a desk that confirmed n pairs knows those n links, no more."""
    rows = []
    out = {}
    for n in TINY_CURVE if tiny else CURVE:
        if n >= len(train_pairs):
            continue
        with tempfile.TemporaryDirectory(prefix="bench-encoder-curve-") as tmp:
            stats = _train(
                train_pairs.subset(range(n)),
                Path(tmp),
                settings,
                max_seconds=max_minutes * 60,
                epochs=epochs,
                max_steps=2 if tiny else None,
                learning_rate=learning_rate,
                negatives=None if negatives is None else negatives[:n],
                recipe=recipe,
                interpolation=interpolation,
            )
            vectors = Encoder(model_name=f"tuned-{n}", model_path=tmp).encode(texts)
        corpus = Corpus(ids, fields, vectors, test_rows, dict(train_links[:n]))
        metrics = _evaluate(corpus, settings, test_rows, test_targets)
        out[n] = {
            "dense": metrics["dense"]["R@5"],
            "hybrid": metrics["hybrid"]["R@5"],
            "hybrid_collapse": metrics["hybrid_collapse"]["R@5"],
            "seconds": stats["seconds"],
        }
        rows.append([n, out[n]["dense"], out[n]["hybrid"], out[n]["hybrid_collapse"], stats["seconds"]])
    out[len(train_pairs)] = {
        "dense": full["dense"]["R@5"],
        "hybrid": full["hybrid"]["R@5"],
        "hybrid_collapse": full["hybrid_collapse"]["R@5"],
    }
    last = out[len(train_pairs)]
    rows.append([len(train_pairs), last["dense"], last["hybrid"], last["hybrid_collapse"], "-"])
    print_table(
        ["training pairs", "dense R@5", "hybrid R@5", "+ collapse R@5", "train s"],
        rows,
        title="learning curve",
    )
    smallest = min(out)
    print(
        f"learning curve: hybrid R@5 {out[smallest]['hybrid']:.3f} after {smallest} pairs, "
        f"{full['hybrid']['R@5']:.3f} after all {len(train_pairs)}"
    )
    results["learning_curve"] = out


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and write benchmarks/results/bench_encoder[_tiny].json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="CI size: 60 pairs, 2 training steps")
    parser.add_argument("--max-minutes", type=float, default=20.0, help="time box of each training run")
    parser.add_argument("--epochs", type=int, default=None, help="default: the settings'")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the settings'")
    parser.add_argument("--max-seq-length", type=int, default=None, help="default: the settings'")
    parser.add_argument(
        "--symmetric",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="symmetric in-batch loss (default: the settings')",
    )
    parser.add_argument(
        "--interpolation",
        type=float,
        default=None,
        help="WiSE-FT blend of the reported fine-tuned model (default: the settings')",
    )
    parser.add_argument(
        "--alphas",
        type=str,
        default="",
        help="also evaluate these blends, e.g. 0.5,0.7,0.85,1 (one training)",
    )
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the settings'")
    parser.add_argument("--curve", action="store_true", help="also the learning curve (3 more trainings)")
    parser.add_argument("--dev", action="store_true", help="evaluate on dev pairs (no test pairs)")
    parser.add_argument(
        "--hard-negatives",
        action="store_true",
        help="add each training pair's mined hard negative (stock dense top hit)",
    )
    args = parser.parse_args(argv)
    if not (DATA_DIR / "openoffice_duplicates.csv").is_file():
        print(f"skipped: openoffice_duplicates.csv not found in {DATA_DIR}")
        return 0
    results: dict = {"args": vars(args)}
    start = time.perf_counter()
    recipe = {"batch_size": args.batch_size, "max_seq_length": args.max_seq_length}
    if args.symmetric is not None:
        recipe["symmetric"] = args.symmetric
    alphas = [float(a) for a in args.alphas.split(",") if a.strip()]
    epochs = args.epochs or Settings().encoder_train_epochs
    tag = _recipe(args.epochs, args.learning_rate, args.hard_negatives, recipe, args.interpolation)
    run(
        results,
        tiny=args.tiny,
        max_minutes=args.max_minutes,
        epochs=epochs,
        curve=args.curve,
        dev=args.dev,
        learning_rate=args.learning_rate,
        hard_negatives=args.hard_negatives,
        recipe=recipe,
        interpolation=args.interpolation,
        alphas=alphas,
        tag=tag,
    )
    results["seconds"] = time.perf_counter() - start
    write_results(_name(args.tiny, args.dev, tag), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
