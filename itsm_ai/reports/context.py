"""What every report shares: its resolved inputs (`Context`) and the helpers that merge and shape figures."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from itsm_ai.reports import overlap, queries, stats
from itsm_ai.reports.enums import Dimension, Interval
from itsm_ai.reports.models import ReportTicket
from itsm_ai.reports.periods import Period
from itsm_ai.reports.queries import Tally, Walk, count_where

TICKETS = ReportTicket.__table__

# group_by dimension -> fact column.
DIMENSION_COLUMNS = {
    Dimension.type: "record_type",
    Dimension.group: "assignment_group_id",
    Dimension.category: "category",
    Dimension.priority: "priority",
    Dimension.assignee: "assigned_to_id",
    Dimension.state: "state",
}
QUANTILE_NAMES = tuple(stats.QUANTILES)


@dataclass
class Context:
    """One report's inputs, resolved: periods, ticket types, fact-column filters, grouping and now."""

    db_session: Session
    periods: list[Period]
    interval: Interval
    types: tuple[str, ...]
    filters: dict[str, tuple[Any, ...]]
    group_by: str | None
    now: int
    walks: list[dict] = field(default_factory=list)

    def scope(self, table) -> list[ColumnElement]:
        """The ticket filters on a fact table."""
        out = [table.c.record_type.in_(self.types)]
        out += [table.c[column].in_(values) for column, values in self.filters.items()]
        return out

    def group(self, table) -> ColumnElement | None:
        """The group_by column of a fact table (None without group_by)."""
        return table.c[DIMENSION_COLUMNS[Dimension(self.group_by)]] if self.group_by else None

    def tickets(self, walk: Walk, table=TICKETS) -> dict:
        """Run a walk over a fact table with the ticket scope and grouping."""
        return self._walk(walk, table, self.db_session)

    def tickets_together(self, *walks: Walk, table=TICKETS) -> list[dict]:
        """`tickets` of each walk, the walks overlapped on helper connections when they may (`overlap`)."""
        tasks = [functools.partial(self._walk, walk, table) for walk in walks]
        return overlap.run_together(self.db_session, tasks)

    def _walk(self, walk: Walk, table, db_session: Session) -> dict:
        return queries.run(db_session, walk, self.periods, scope=self.scope(table), group=self.group(table))


Figures = dict[str, Any]


def merge(
    parts: Sequence[Mapping[tuple[int, tuple], Figures]], n_periods: int, *, empty: tuple | None = (None,)
) -> dict[tuple, list[Figures]]:
    """{key: [figures of period 0, 1, ...]} from walk results, every key in every period (missing = {}).

    Without any row at all the report still has one key, `empty` (zero rows per period), unless it is None.
    """
    keys = sorted({key for part in parts for (_, key) in part}, key=_sort_key)
    if not keys and empty is not None:
        keys = [empty]
    out: dict[tuple, list[Figures]] = {key: [{} for _ in range(n_periods)] for key in keys}
    for part in parts:
        for (period, key), figures in part.items():
            out[key][period].update(figures)
    return out


def _sort_key(key: tuple) -> tuple:
    return tuple((v is not None, str(v) if not isinstance(v, int | float) else f"{v:020.6f}") for v in key)


def figure(figures: Figures, name: str) -> float:
    """A count or sum of the figures (0 when the period had no row)."""
    value = figures.get(name)
    return 0 if value is None else value


def values_summary(figures: Figures, name: str, bounds: Sequence[int] = ()) -> dict[str, Any]:
    """A `Values` summary of the figures (empty when the period had no row)."""
    empty = {
        "n": 0,
        "mean": None,
        "quantiles": [None] * len(QUANTILE_NAMES),
        "buckets": [0] * (len(bounds) + 1),
    }
    return figures.get(name) or empty


def hours_figures(prefix: str, summary: dict[str, Any]) -> Figures:
    """Mean and quantiles of a summary of seconds, in hours, named `<prefix>_hours_<figure>`."""
    out = {f"{prefix}_hours_mean": stats.hours(summary["mean"])}
    for name, value in zip(QUANTILE_NAMES, summary["quantiles"], strict=True):
        out[f"{prefix}_hours_{name}"] = stats.hours(value)
    return out


def bucket_sums(age: ColumnElement, bounds: Sequence[int], names: Sequence[str]) -> dict[str, Tally]:
    """count_where per bucket of `age` (upper bounds included; the last bucket is open-ended)."""
    sums = {}
    lower = None
    for bound, name in zip([*bounds, None], names, strict=True):
        conditions = []
        if lower is not None:
            conditions.append(age > lower)
        if bound is not None:
            conditions.append(age <= bound)
        sums[name] = count_where(*conditions)
        lower = bound
    return sums
