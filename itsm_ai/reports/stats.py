"""Report maths on values the database already aggregated: quantiles, rates, running totals.

Pure: numbers and arrays in, numbers out. Quantiles use linear interpolation between the two nearest ranks
(numpy's and pandas' default, and PostgreSQL's percentile_cont), so every database and a notebook agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

QUANTILES = {"median": 0.5, "p90": 0.9}


def parse_numbers(text: str | None) -> np.ndarray:
    """A comma-separated list of numbers (an SQL group_concat) as a float array; empty for None or ''."""
    if not text:
        return np.empty(0)
    if "." in text or "e" in text or "E" in text or "n" in text:  # reals (SQLite writes them with a point)
        return np.fromstring(text, sep=",")
    # Whole seconds, the usual case: numpy parses integers several times faster than floats.
    return np.fromstring(text, sep=",", dtype=np.int64).astype(float)


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
