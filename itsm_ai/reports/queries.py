"""The SQL of every report: per period, aggregate the rows whose time falls in it, grouped by its keys.

The periods go to the database as one parameter (a JSON array on SQLite, two arrays on PostgreSQL) and every
period's aggregate is a correlated subquery over an index range of its time column: [start, end) becomes one
index seek and a walk over exactly the rows of that period, and the grouping sorts one period's rows at a time
(SQLite has no hash aggregation; one GROUP BY over a million rows costs it several times more). The rows of a
period come back as one JSON array, which is decoded here; nothing loops over ticket rows in Python.

Quantiles are exact: PostgreSQL computes them with percentile_cont; SQLite has no such aggregate, so it
returns each group's values as one group_concat string and numpy computes the same linear interpolation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from itsm_ai.reports import stats
from itsm_ai.reports.periods import Period

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Values:
    """Per-row numbers summarised per group: count, mean, quantiles (stats.QUANTILES) and a histogram of
    counts up to each of `bounds` (included) and above the last."""

    expr: ColumnElement
    bounds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Walk:
    """One aggregation per period over rows of `table` whose `time` column (+ `shift` seconds) is in it.

    `time` is a column name of `table` (or, for a join, the column itself). `sums` are SQL aggregates by
    label; `values` summaries by label (see `Values`), returned as dicts (n, mean, quantiles, buckets).
    `keys` are the report's own grouping expressions (such as a triage field), before the user's group_by.
    On SQLite, whose GROUP BY sorts every row, the `keys` are instead enumerated first and each key value gets
    its own walk, an index range that needs no sort (give them an index that leads with them). `epoch` False
    means the time column is a stored datetime rather than epoch seconds.
    """

    table: Any
    time: str | ColumnElement
    sums: Mapping[str, ColumnElement]
    where: Sequence[ColumnElement] = ()
    values: Mapping[str, Values] = field(default_factory=dict)
    shift: int = 0
    keys: Sequence[ColumnElement] = ()
    epoch: bool = True


class Dialect:
    """The few functions that differ between SQLite and PostgreSQL."""

    def __init__(self, name: str):
        self.name = name
        self.postgres = name == "postgresql"

    def periods(self, periods: Sequence[Period]):
        """The FROM item of the periods (index k, start s, end e) and the parameters it needs."""
        if self.postgres:
            table = (
                func.unnest(
                    cast(bindparam("period_starts"), ARRAY(BigInteger)),
                    cast(bindparam("period_ends"), ARRAY(BigInteger)),
                )
                .table_valued("s", "e", with_ordinality="k")
                .render_derived(name="p")
            )
            params = {"period_starts": [p.start for p in periods], "period_ends": [p.end for p in periods]}
            return table, table.c.k - 1, table.c.s, table.c.e, params
        each = func.json_each(bindparam("periods")).table_valued("key", "value")
        rows = select(
            each.c.key.label("k"),
            func.json_extract(each.c.value, literal("$[0]")).label("s"),
            func.json_extract(each.c.value, literal("$[1]")).label("e"),
        )
        # Materialised: the bounds are plain values, not a JSON lookup again on every row that compares them.
        table = rows.cte("p").prefix_with("MATERIALIZED")
        params = {"periods": json.dumps([[p.start, p.end] for p in periods])}
        return table, table.c.k, table.c.s, table.c.e, params

    def datetime(self, epoch_seconds) -> ColumnElement:
        """Epoch seconds as the stored form of a UTCDateTime column (naive UTC), for range comparisons."""
        if self.postgres:
            return func.timezone("UTC", func.to_timestamp(epoch_seconds))
        # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff"; "YYYY-MM-DD HH:MM:SS" sorts right before it.
        return func.datetime(epoch_seconds, literal("unixepoch"))

    def rows(self, *columns: ColumnElement) -> ColumnElement:
        """Aggregate: the group's rows as a JSON array of arrays."""
        if self.postgres:
            return func.json_agg(func.json_build_array(*columns))
        return func.json_group_array(func.json_array(*columns))

    def values(self, values: Values) -> ColumnElement:
        """Aggregate: what `decode_values` turns into the summary of `values`."""
        expr = values.expr
        if not self.postgres:
            return func.group_concat(expr)  # no percentile aggregate: numpy summarises the values
        qs = cast(bindparam("quantiles", list(stats.QUANTILES.values())), ARRAY(Float))
        return func.json_build_array(
            func.count(expr),
            func.avg(expr),
            func.percentile_cont(qs).within_group(expr),
            *(func.count(expr).filter(expr <= bound) for bound in values.bounds),
        )

    def decode_values(self, raw: Any, values: Values) -> dict[str, Any]:
        """The summary (n, mean, quantiles, buckets) from what `values` returned for one group."""
        qs = list(stats.QUANTILES.values())
        if not self.postgres:
            return stats.summary(stats.parse_numbers(raw), qs, values.bounds)
        n, mean, quantiles, *cumulative = raw
        return {
            "n": int(n),
            "mean": None if mean is None else float(mean),
            "quantiles": [None if v is None else float(v) for v in quantiles]
            if quantiles
            else [None] * len(qs),
            "buckets": stats.buckets(cumulative, int(n)),
        }


def run(
    db_session: Session,
    walk: Walk,
    periods: Sequence[Period],
    *,
    scope: Sequence[ColumnElement] = (),
    group: ColumnElement | None = None,
) -> dict[tuple[int, Key], dict[str, Any]]:
    """{(period index, key): {label: value}} for the walk over the periods; `scope` adds row conditions and
    `group` the user's group_by expression (the last part of each key)."""
    dialect = Dialect(db_session.get_bind().dialect.name)
    if dialect.postgres or not walk.keys:
        return _run(db_session, dialect, walk, periods, scope, group, ())
    # SQLite: one walk per key value, each an index range in key order (no sort); keys with no row in the
    # report's range and scope give no rows.
    distinct = select(*walk.keys).select_from(walk.table).where(*scope).distinct()
    out: dict[tuple[int, Key], dict[str, Any]] = {}
    for values in db_session.execute(distinct).all():
        fixed = [column.is_not_distinct_from(value) for column, value in zip(walk.keys, values, strict=True)]
        one = Walk(**{**walk.__dict__, "keys": (), "where": [*walk.where, *fixed]})
        out.update(_run(db_session, dialect, one, periods, scope, group, tuple(values)))
    return out


def _run(db_session, dialect, walk, periods, scope, group, prefix) -> dict[tuple[int, Key], dict[str, Any]]:
    source, index, start, end, params = dialect.periods(periods)
    time = walk.table.c[walk.time] if isinstance(walk.time, str) else walk.time
    lo, hi = start - walk.shift, end - walk.shift
    if not walk.epoch:
        lo, hi = dialect.datetime(lo), dialect.datetime(hi)
    grouping = [*walk.keys, *([group] if group is not None else [])]
    keys = [*walk.keys, group if group is not None else null()]
    labels = [f"k{i}" for i in range(len(keys))]
    aggregates = {**walk.sums, **{name: dialect.values(v) for name, v in walk.values.items()}}
    inner = (
        select(
            *(k.label(n) for k, n in zip(keys, labels, strict=True)),
            *(expr.label(f"a{i}") for i, expr in enumerate(aggregates.values())),
        )
        .select_from(walk.table)
        .where(time >= lo, time < hi, *walk.where, *scope)
        .group_by(*grouping)
        .correlate(source)
        .subquery("x")
    )
    columns = [inner.c[n] for n in labels] + [inner.c[f"a{i}"] for i in range(len(aggregates))]
    per_period = select(dialect.rows(*columns)).select_from(inner).scalar_subquery()
    stmt = select(index.label("k"), per_period.label("rows")).select_from(source)
    names = list(aggregates)
    out: dict[tuple[int, Key], dict[str, Any]] = {}
    for k, raw in db_session.execute(stmt, params):
        rows = json.loads(raw) if isinstance(raw, str) else (raw or [])
        for row in rows:
            key = prefix + tuple(row[: len(keys)])
            figures = row[len(keys) :]
            out[(int(k), key)] = {
                name: dialect.decode_values(v, walk.values[name]) if name in walk.values else v
                for name, v in zip(names, figures, strict=True)
            }
    return out


def count_where(*conditions: ColumnElement) -> ColumnElement:
    """Aggregate: how many rows meet all the conditions (SQL FILTER: cheaper than SUM(CASE ...))."""
    return func.count().filter(and_(*conditions))


def null_or_after(column: ColumnElement, bound: ColumnElement) -> ColumnElement:
    """column IS NULL OR column > bound."""
    return or_(column.is_(None), column > bound)


def scalar_query(db_session: Session, table: Table, aggregates: Mapping[str, ColumnElement], where, group):
    """{key: {label: value}} of one grouped aggregate query (no periods)."""
    key = group if group is not None else null()
    stmt = select(key.label("g"), *(e.label(n) for n, e in aggregates.items())).where(*where)
    if group is not None:
        stmt = stmt.group_by(key)
    out: dict[Key, dict[str, Any]] = {}
    for row in db_session.execute(stmt.select_from(table)):
        out[(row[0],)] = {n: row._mapping[n] for n in aggregates}
    return out
