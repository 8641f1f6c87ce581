"""Contrastive fine-tuning of a sentence encoder on (query, match) pairs, and recall@k on held-out pairs.

Pure: texts and folders in, weights and numbers out (no sessions). MultipleNegativesRankingLoss uses the
other matches of a batch as each query's negatives, so only positive pairs are needed, which is what a desk
confirms. torch and sentence-transformers are imported lazily.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

KS = (1, 5, 10)


@dataclass
class Pairs:
    """Positive pairs: a[i] (a new ticket, a chat question) matches b[i] (its master, fix, article)."""

    a: list[str]
    b: list[str]
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.a)

    def subset(self, rows: Sequence[int]) -> Pairs:
        """The pairs at the given rows."""
        return Pairs(
            [self.a[i] for i in rows],
            [self.b[i] for i in rows],
            [self.sources[i] for i in rows] if self.sources else [],
        )

    def keys(self) -> list[str]:
        """A digest per pair, so later evaluations can leave out what a version trained on."""
        return [pair_key(a, b) for a, b in zip(self.a, self.b, strict=True)]


def pair_key(a: str, b: str) -> str:
    """Digest of one pair (order matters: query, match)."""
    data = a.encode("utf-8", "surrogatepass") + b"\x1f" + b.encode("utf-8", "surrogatepass")
    return hashlib.sha1(data).hexdigest()[:16]


def is_holdout(a: str, b: str, share: float) -> bool:
    """Fixed held-out part of the pairs (by a hash of the pair): evaluation only, never trained on."""
    return share > 0 and zlib.crc32(pair_key(a, b).encode()) % 1000 < int(share * 1000)


def split_holdout(pairs: Pairs, share: float) -> tuple[Pairs, Pairs]:
    """(training pairs, held-out pairs) by `is_holdout`."""
    held = [i for i in range(len(pairs)) if is_holdout(pairs.a[i], pairs.b[i], share)]
    held_set = set(held)
    return pairs.subset([i for i in range(len(pairs)) if i not in held_set]), pairs.subset(held)


class EncoderArtifact:
    """What the registry keeps as an encoder version's model file; the weights sit beside it."""

    def __init__(self, base_model: str = "", base_version: str = "", dimension: int = 0):
        self.base_model = base_model
        self.base_version = base_version
        self.dimension = dimension

    def registry_metadata(self) -> dict[str, Any]:
        """Metadata the registry records with the version."""
        return {"kind": "sentence-encoder", "base_model": self.base_model, "base_version": self.base_version,
                "dimension": self.dimension}


def fine_tune(
    pairs: Pairs,
    *,
    base_folder: str | Path,
    out_folder: str | Path,
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    max_seq_length: int = 128,
    max_seconds: float = 1800.0,
    max_steps: int | None = None,
    random_state: int = 0,
    progress: Callable[[float, str], None] | None = None,
    negatives: Sequence[str] | None = None,
    symmetric: bool = False,
    interpolation: float = 1.0,
) -> dict[str, Any]:
    """Fine-tune the model in base_folder on the pairs (in-batch negatives); save it to out_folder.

    With `negatives` (one text per pair, e.g. from `mine_hard_negatives`) each step also scores every query
    against the batch's hard negatives (about 1.5x the time per step). With `symmetric` the loss also ranks
    each match's query among the batch's queries (both directions). `interpolation` a < 1 saves
    (1 - a) * base + a * fine-tuned weights (WiSE-FT: keeps more of the base's general-domain quality).
    Stops at max_seconds or max_steps (the steps done are kept). Returns what happened (steps, seconds,
    seconds per epoch, final loss).
    """
    if not 0 < interpolation <= 1:
        raise ValueError(f"interpolation: {interpolation} is not in (0, 1]")
    if len(pairs) < 2:
        raise ValueError("pairs: at least 2 pairs are needed (each batch's other pairs are the negatives)")
    if negatives is not None and len(negatives) != len(pairs):
        raise ValueError(f"negatives: {len(negatives)} for {len(pairs)} pairs; one per pair is needed")
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(random_state)
    # Every core while training (torch may start with fewer); the process's own setting is restored after.
    with _torch_threads(torch, os.cpu_count() or 1):
        rng = np.random.default_rng(random_state)
        model = SentenceTransformer(str(base_folder), device="cpu")
        saved_length = model.max_seq_length
        model.max_seq_length = min(max_seq_length, saved_length or max_seq_length)
        lengths = _token_lengths(model.tokenizer, pairs, model.max_seq_length, negatives)
        base_state = _state_copy(model) if interpolation < 1 else None
        # Symmetric: each direction's softmax over its own candidates, the two losses averaged.
        loss_fn = MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"),
                                               partition_mode="per_direction") if symmetric \
            else MultipleNegativesRankingLoss(model)
        prepare = getattr(model, "preprocess", None) or model.tokenize  # tokenize is deprecated in 6.x
        optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
        batch_size = max(2, min(batch_size, len(pairs)))
        per_epoch = math.ceil(len(pairs) / batch_size)
        total = per_epoch * epochs if max_steps is None else min(per_epoch * epochs, max_steps)
        warmup = max(1, total // 10)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total)
        )
        started = time.monotonic()
        steps, last_loss, stopped = 0, float("nan"), "done"
        epoch_seconds: list[float] = []
        model.train()
        for _ in range(epochs):
            epoch_start = time.monotonic()
            for batch in _batches(pairs, batch_size, rng, lengths=lengths, negatives=negatives):
                if steps >= total:
                    stopped = "max_steps"
                    break
                if time.monotonic() - started > max_seconds:
                    stopped = "time limit"
                    break
                features = [prepare([pairs.a[i] for i in batch]), prepare([pairs.b[i] for i in batch])]
                if negatives is not None:
                    features.append(prepare([negatives[i] for i in batch]))
                value = loss_fn(features, torch.empty(0))
                value.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                steps += 1
                last_loss = float(value.detach())
                if progress is not None:
                    progress(steps / total, f"step {steps}/{total}, loss {last_loss:.3f}")
            epoch_seconds.append(time.monotonic() - epoch_start)
            if stopped != "done":
                break
        model.eval()
        model.max_seq_length = saved_length
        if base_state is not None:
            model.load_state_dict(interpolate_state(base_state, model.state_dict(), interpolation))
        Path(out_folder).mkdir(parents=True, exist_ok=True)
        model.save(str(out_folder))
        seconds = time.monotonic() - started
        return {
            "pairs": len(pairs),
            "steps": steps,
            "planned_steps": total,
            "epochs_planned": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "max_seq_length": max_seq_length,
            "hard_negatives": negatives is not None,
            "symmetric_loss": symmetric,
            "interpolation": interpolation,
            "seconds": round(seconds, 2),
            "seconds_per_epoch": round(seconds / max(steps, 1) * per_epoch, 2),
            "stopped": stopped,
            "final_loss": last_loss,
        }


def _state_copy(model: Any) -> dict[str, Any]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def interpolate_state(base: dict[str, Any], tuned: dict[str, Any], alpha: float) -> dict[str, Any]:
    """(1 - alpha) * base + alpha * tuned for every floating tensor (others, e.g. position ids, as tuned)."""
    if set(base) != set(tuned):
        raise ValueError("interpolation: the two models' weights do not match (different architectures)")
    return {
        name: (1 - alpha) * base[name].to(value.dtype) + alpha * value if value.is_floating_point() else value
        for name, value in tuned.items()
    }


def interpolate_folders(base_folder: str | Path, tuned_folder: str | Path, out_folder: str | Path,
                        alpha: float) -> None:
    """Save (1 - alpha) * base + alpha * tuned (WiSE-FT) from two saved models of one architecture."""
    if not 0 < alpha <= 1:
        raise ValueError(f"interpolation: {alpha} is not in (0, 1]")
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    base = SentenceTransformer(str(base_folder), device="cpu")
    tuned = SentenceTransformer(str(tuned_folder), device="cpu")
    tuned.load_state_dict(interpolate_state(base.state_dict(), tuned.state_dict(), alpha))
    Path(out_folder).mkdir(parents=True, exist_ok=True)
    tuned.save(str(out_folder))


@contextlib.contextmanager
def _torch_threads(torch: Any, threads: int):
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _token_lengths(tokenizer: Any, pairs: Pairs, cap: int,
                   negatives: Sequence[str] | None = None) -> np.ndarray:
    """Per pair, the longest side's token count (capped): a batch is padded to its longest text."""
    def count(texts: Sequence[str]) -> np.ndarray:
        ids = tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=cap)["input_ids"]
        return np.array([len(x) for x in ids])

    longest = np.maximum(count(pairs.a), count(pairs.b))
    return longest if negatives is None else np.maximum(longest, count(negatives))


def _batches(pairs: Pairs, batch_size: int, rng: np.random.Generator, *, lengths: np.ndarray | None = None,
             bucket: int = 8, negatives: Sequence[str] | None = None):
    """Shuffled batches in which no text repeats (a repeated match would be its own false negative; so
    would a hard negative that is another pair's query or match in the batch).

    With `lengths`, each window of `bucket` batches is sorted by length before it is cut (and the batches
    are shuffled again): pairs of a batch are of similar length, so little of a step is padding.
    """
    order = list(rng.permutation(len(pairs)))
    if lengths is not None:
        window = batch_size * bucket
        order = [i for start in range(0, len(order), window)
                 for i in sorted(order[start:start + window], key=lambda i: lengths[i])]
        batches = list(_cut(pairs, batch_size, order, negatives))
        yield from (batches[i] for i in rng.permutation(len(batches)))
        return
    yield from _cut(pairs, batch_size, order, negatives)


def _cut(pairs: Pairs, batch_size: int, order: list[int], negatives: Sequence[str] | None = None):
    while order:
        batch, seen, rest = [], set(), []
        for i in order:
            texts = (pairs.a[i], pairs.b[i]) if negatives is None else (pairs.a[i], pairs.b[i], negatives[i])
            if len(batch) < batch_size and not seen.intersection(texts):
                batch.append(i)
                seen.update(texts)
            else:
                rest.append(i)
        if len(batch) < 2 and rest:  # only repeats are left: take them with the repeat rather than drop them
            batch, rest = batch + rest[: batch_size - len(batch)], rest[batch_size - len(batch):]
        order = rest
        if len(batch) >= 2:
            yield batch


def mine_hard_negatives(
    pairs: Pairs,
    corpus: Sequence[str],
    corpus_vectors: np.ndarray,
    a_vectors: np.ndarray,
    b_vectors: np.ndarray,
    *,
    max_ratio: float = 0.95,
) -> list[str]:
    """Per pair, the corpus text nearest its query (cosine of normalised vectors, e.g. the stock encoder's)
    that is not a positive: neither side of the pair nor any text the pairs link to it (another duplicate
    of the same master), and scoring below max_ratio x the pair's own score (an unlabelled duplicate would
    be a false negative). Falls back to the nearest text that is not a side of the pair."""
    parent: dict[str, str] = {}

    def root(text: str) -> str:
        while parent.setdefault(text, text) != text:
            parent[text] = parent[parent[text]]
            text = parent[text]
        return text

    for a, b in zip(pairs.a, pairs.b, strict=True):
        parent[root(a)] = root(b)
    groups = [root(t) if t in parent else None for t in corpus]
    queries = np.asarray(a_vectors, dtype=np.float32)
    scores = queries @ np.asarray(corpus_vectors, dtype=np.float32).T
    own = np.einsum("ij,ij->i", queries, np.asarray(b_vectors, dtype=np.float32))
    out = []
    for i, (a, b) in enumerate(zip(pairs.a, pairs.b, strict=True)):
        group, fallback, chosen = root(a), None, None
        for j in np.argsort(-scores[i], kind="stable"):
            text = corpus[j]
            if text in (a, b):
                continue
            fallback = text if fallback is None else fallback
            if groups[j] != group and scores[i, j] < max_ratio * own[i]:
                chosen = text
                break
        if chosen is None and fallback is None:
            raise ValueError("corpus: no text besides the pair's own to use as its negative")
        out.append(chosen if chosen is not None else fallback)
    return out


def recall_at_k(
    encode: Callable[[Sequence[str]], np.ndarray],
    pairs: Pairs,
    *,
    extra_corpus: Sequence[str] = (),
    ks: Sequence[int] = KS,
) -> dict[str, Any]:
    """recall@k of each pair's match among every distinct match (plus extra_corpus), by cosine."""
    if not len(pairs):
        return {"n": 0, **{f"recall@{k}": None for k in ks}}
    corpus = list(dict.fromkeys([*pairs.b, *extra_corpus]))
    where = {text: i for i, text in enumerate(corpus)}
    doc_vectors = np.asarray(encode(corpus), dtype=np.float32)
    query_vectors = np.asarray(encode(pairs.a), dtype=np.float32)
    scores = query_vectors @ doc_vectors.T
    targets = np.array([where[b] for b in pairs.b])
    target_scores = scores[np.arange(len(targets)), targets]
    ranks = (scores > target_scores[:, None]).sum(axis=1)  # 0 = the match ranks first
    return {"n": len(pairs), **{f"recall@{k}": round(float(np.mean(ranks < k)), 4) for k in ks}}
