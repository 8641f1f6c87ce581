"""Report maths on values the database already aggregated: quantiles, rates, running totals.

Pure: numbers and arrays in, numbers out. Quantiles use linear interpolation between the two nearest ranks
(numpy's and pandas' default, and PostgreSQL's percentile_cont), so every database and a notebook agree.

`segment_summaries` sorts each value column once, as (segment, value) int64 keys, and reads everything else
from that order: the quantiles from the few keys they pick (no unpacked copy of the whole array) and the
histogram from binary searches of (segment, bound) keys instead of a search of every value among the bounds
and a bincount, and the per-segment dicts built from Python lists, not numpy scalars (2026-12-06: one walk's
two summaries, 850k values in 720 segments, 55 -> 37 ms). The sort itself is ~8 ms per 700k keys (numpy's
SIMD quicksort); a stable (radix) sort measured 12x slower, and np.partition per segment would be a Python
loop over thousands of segments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

QUANTILES = {"median": 0.5, "p90": 0.9}


def parse_numbers(text: str | None, *, exact: bool = False) -> np.ndarray:
    """A comma-separated list of numbers (an SQL group_concat) as a float array; empty for None or ''.

    exact: whole numbers stay integers (int64), for sums that must not round."""
    if not text:
        return np.empty(0, dtype=np.int64 if exact else float)
    if "." in text or "e" in text or "E" in text or "n" in text:  # reals (SQLite writes them with a point)
        return np.fromstring(text, sep=",")
    # Whole seconds, the usual case: numpy parses integers several times faster than floats.
    whole = np.fromstring(text, sep=",", dtype=np.int64)
    return whole if exact else whole.astype(float)


def quantiles(values: np.ndarray | Sequence[float], qs: Iterable[float]) -> list[float | None]:
    """The q-quantiles of the values (linear interpolation); None for each when there are no values."""
    return _quantiles_sorted(np.sort(np.asarray(values, dtype=float)), list(qs))


def _quantiles_sorted(array: np.ndarray, qs: list[float]) -> list[float | None]:
    # The interpolation by hand: np.quantile's own overhead dominates on the many small groups a grouped
    # report has.
    n = array.size
    if n == 0:
        return [None] * len(qs)
    out = []
    for q in qs:
        position = (n - 1) * q
        lo = int(position)
        hi = min(lo + 1, n - 1)
        low = float(array[lo])
        out.append(low + (float(array[hi]) - low) * (position - lo))
    return out


def buckets(cumulative: Sequence[int], n: int) -> list[int]:
    """Counts per histogram bucket from the counts up to each bound (included) and the total."""
    edges = [0, *(int(c) for c in cumulative), int(n)]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


def summary(values: np.ndarray | Sequence[float], qs: Sequence[float], bounds: Sequence[float] = ()) -> dict:
    """n, mean, quantiles and histogram (counts up to each bound, included, and above the last) of values."""
    array = np.sort(np.asarray(values, dtype=float))
    n = int(array.size)
    cumulative = np.searchsorted(array, np.asarray(bounds, dtype=float), side="right") if bounds else []
    return {
        "n": n,
        "mean": float(array.mean()) if n else None,
        "quantiles": _quantiles_sorted(array, list(qs)),
        "buckets": buckets(cumulative, n) if bounds else [],
    }


def segment_summaries(
    segment: np.ndarray,
    values: np.ndarray,
    n_segments: int,
    qs: Sequence[float],
    bounds: Sequence[float] = (),
) -> list[dict]:
    """`summary` of the values of each segment 0..n_segments-1 (segment[i] is value i's), all at once: one
    sort of (segment, value) pairs and the same interpolation per segment, no loop over segments."""
    values = np.asarray(values)
    if values.dtype.kind not in "iuf":
        values = values.astype(float)
    counts = np.bincount(segment, minlength=n_segments)
    totals = np.bincount(segment, weights=values, minlength=n_segments)
    filled = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        means = totals / counts
    quantile_columns = []
    cumulative = None
    if values.size:
        ordered = _SegmentOrder(segment, values, n_segments)
        starts = np.cumsum(counts) - counts
        for q in qs:
            position = np.where(filled, (counts - 1) * q, 0.0)
            lo = position.astype(np.int64)
            hi = np.minimum(lo + 1, np.maximum(counts - 1, 0))
            low = ordered.at(np.where(filled, starts + lo, 0))
            high = ordered.at(np.where(filled, starts + hi, 0))
            quantile_columns.append(low + (high - low) * (position - lo))
        if bounds:
            cumulative = ordered.counts_up_to(bounds, starts)
    if bounds:
        if cumulative is None:
            cumulative = np.zeros((n_segments, len(bounds)), dtype=np.int64)
        edges = np.column_stack([np.zeros(n_segments, dtype=np.int64), cumulative, counts])
        histogram = np.diff(edges, axis=1)
    # Python lists first: indexing numpy arrays one element at a time costs more than the maths above.
    sizes, averages = counts.tolist(), means.tolist()
    columns = [c.tolist() for c in quantile_columns]
    histograms = histogram.tolist() if bounds else [[] for _ in range(n_segments)]
    nothing = [None] * len(qs)
    return [
        {
            "n": n,
            "mean": averages[s] if n else None,
            "quantiles": [c[s] for c in columns] if n else list(nothing),
            "buckets": histograms[s],
        }
        for s, n in enumerate(sizes)
    ]


_VALUE_BITS = 40


class _SegmentOrder:
    """The values ordered by (segment, value): `at` the value at sorted positions, `counts_up_to` how many
    values of each segment are at most each bound (integers stay integers)."""

    def __init__(self, segment: np.ndarray, values: np.ndarray, n_segments: int):
        low, high = values.min(), values.max()
        span = int(high) - int(low)
        whole = values.dtype.kind in "iu" or np.array_equal(values, np.floor(values))
        self.packed = None
        if span < 2**_VALUE_BITS and n_segments < 2**22 and whole:
            # Whole numbers (seconds): one int64 key per value, segment in the high bits, sorts many times
            # faster than lexsort's two keys; a value comes back exactly from the low bits of its key (only
            # those the quantiles pick: no unpacked copy of the whole array).
            self.low = int(low)
            self.packed = (segment.astype(np.int64) << _VALUE_BITS) | (values - low).astype(np.int64)
            self.packed.sort()
        else:
            order = np.lexsort((values, segment))
            self.values, self.segment = values[order], segment[order]

    def at(self, positions: np.ndarray) -> np.ndarray:
        """The ordered values at the positions."""
        if self.packed is None:
            return self.values[positions]
        return (self.packed[positions] & (2**_VALUE_BITS - 1)) + self.low

    def counts_up_to(self, bounds: Sequence[float], starts: np.ndarray) -> np.ndarray:
        """(segments x bounds) counts of values <= each bound: binary searches of the ordered keys."""
        n_segments = starts.size
        segments = np.arange(n_segments, dtype=np.int64)[:, None]
        if self.packed is None:
            out = np.empty((n_segments, len(bounds)), dtype=np.int64)
            for j, bound in enumerate(bounds):
                below = self.values <= bound
                out[:, j] = np.bincount(self.segment[below], minlength=n_segments)
            return out
        # A value v <= bound of segment s is a key <= (s << bits) + floor(bound) - low; bounds outside the
        # values' range clip to a segment's start (-1: the end of the previous segment) or end.
        offsets = np.floor(np.asarray(bounds, dtype=float)) - self.low
        offsets = np.clip(offsets, -1, 2**_VALUE_BITS - 1).astype(np.int64)
        keys = (segments << _VALUE_BITS) + offsets[None, :]
        return np.searchsorted(self.packed, keys, side="right") - starts[:, None]


def rate(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when the denominator is zero or missing."""
    if not denominator or numerator is None:
        return None
    return float(numerator) / float(denominator)


def hours(seconds: float | None) -> float | None:
    """Seconds as hours (None stays None)."""
    return None if seconds is None else float(seconds) / 3600.0


def running_total(start: float, deltas: Sequence[float]) -> list[float]:
    """start + cumulative sum of the deltas, one value per delta."""
    return [float(v) for v in start + np.cumsum(np.asarray(deltas, dtype=float))] if len(deltas) else []


def bucket_counts(transitions: Sequence[Sequence[float]], initial: Sequence[float]) -> list[list[float]]:
    """Counts per age bucket at each period end, from what moved per period.

    `transitions[p][k]` is how many tickets entered bucket k during period p minus how many left it (by
    growing older into k + 1, or by leaving the backlog); `initial[k]` is the bucket's count at the start.
    """
    if not len(transitions):
        return []
    totals = np.asarray(initial, dtype=float) + np.cumsum(np.asarray(transitions, dtype=float), axis=0)
    return totals.tolist()
