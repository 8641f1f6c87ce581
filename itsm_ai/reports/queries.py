"""The SQL of every report: per period, aggregate the rows whose time falls in it, grouped by its keys.

The periods go to the database as one parameter (a JSON array on SQLite, two arrays on PostgreSQL) and every
period's aggregate is a correlated subquery over an index range of its time column: [start, end) becomes one
index seek and a walk over exactly the rows of that period, and the grouping sorts one period's rows at a time
(SQLite has no hash aggregation; one GROUP BY over a million rows costs it several times more). The rows of a
period come back as one JSON array, which is decoded here; nothing loops over ticket rows in Python.

Quantiles are exact: PostgreSQL computes them with percentile_cont; SQLite has no such aggregate, so it
returns each group's values as one group_concat string and numpy computes the same linear interpolation.

A walk grouped by an integer field (a report's group_by: group, assignee, priority) takes another path on
SQLite, and on PostgreSQL when it has quantiles (`RowPlan`): SQLite has no hash aggregation, so its GROUP BY
sorts every row of the period, and string lists per group cost one numpy call each; PostgreSQL's
percentile_cont sorts each group's values. There each period's walk returns one list per column of a few
integers per row (the condition bits and the group key, then the summed and the summarised values), and
numpy aggregates all periods at once: counting for the (period, key) segments, np.bincount for counts and
sums, one int64 sort for every segment's quantiles. Same figures, same index ranges, no sort in SQL and no
Python loop over rows or groups. (Without a grouping the SQL aggregates measured faster on both.)

What those lists hold was cut to what numpy needs (issue 17, 2026-12-06): a value that cannot be NULL (a
difference of NOT NULL columns and the walk's own time column, `never_null`) and a key that cannot be NULL
take no bit, and a value list skips its NULLs instead of writing a 0 for each (the value bit says which rows
have one). Resolution-time by month and group on SQLite, 1M incidents: the walks' SQL 181/194 -> 153/170 ms.
On PostgreSQL the lists come as one int8[] in binary (`fetch_arrays`): the server formats no digits and the
client parses none (np.frombuffer, ~5 ms a walk instead of ~50 ms of np.fromstring); server time about the
same (array_agg vs string_agg, 205-250 ms a walk either way); in process, three interleaved rounds at load
4-6, the report took about 5% less (within the noise). A 32-bit key shares the bits' integer on PostgreSQL too
(one array_agg fewer per row: 220-360 vs 265-420 ms a walk; in process, three interleaved rounds at load 6,
the report by group 13% and by assignee 20% faster; in the text form the same packing measured as noise).
Measured and not kept: an array per column through a LATERAL join or a 2-D array of the row's values (no
faster on the server than the text); on SQLite one text per row (a || ',' || b ...: 466 vs 274 ms for the
walk) or the key and a value packed in one integer (174 ms, no less than their two lists: the digits cost, not
the columns). The two walks of resolution-time run at once (`overlap`), which gave the most.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Float,
    Integer,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter

from itsm_ai.reports import stats
from itsm_ai.reports.periods import Period

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Tally:
    """Aggregate: how many rows meet all the conditions, or (with `expr`) the sum of expr over them (0 for
    none). Declared rather than written as SQL so that SQLite's numpy path can tally the same rows."""

    conditions: tuple[ColumnElement, ...] = ()
    expr: ColumnElement | None = None

    def sql(self) -> ColumnElement:
        """The SQL aggregate (FILTER: cheaper than SUM(CASE ...))."""
        where = and_(*self.conditions) if self.conditions else None
        if self.expr is None:
            return func.count() if where is None else func.count().filter(where)
        total = func.sum(self.expr)
        return func.coalesce(total if where is None else total.filter(where), 0)

    def term(self) -> ColumnElement:
        """Per row: what the row adds to a sum (0 when it does not meet the conditions)."""
        value = func.coalesce(self.expr, 0)
        return case((and_(*self.conditions), value), else_=0) if self.conditions else value


def aggregate_sql(expr: Tally | ColumnElement) -> ColumnElement:
    """The SQL of an aggregate given as a Tally or as SQL."""
    return expr.sql() if isinstance(expr, Tally) else expr


@dataclass(frozen=True)
class Values:
    """Per-row numbers summarised per group: count, mean, quantiles (stats.QUANTILES) and a histogram of
    counts up to each of `bounds` (included) and above the last."""

    expr: ColumnElement
    bounds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Walk:
    """One aggregation per period over rows of `table` whose `time` column (+ `shift` seconds) is in it.

    `time` is a column name of `table` (or, for a join, the column itself). `sums` are aggregates by label
    (`Tally`, or SQL); `values` summaries by label (see `Values`), returned as dicts (n, mean, quantiles,
    buckets).
    `keys` are the report's own grouping expressions (such as a triage field), before the user's group_by.
    On SQLite, whose GROUP BY sorts every row, the `keys` are instead enumerated first and each key value gets
    its own walk, an index range that needs no sort (give them an index that leads with them). `epoch` False
    means the time column is a stored datetime rather than epoch seconds.
    """

    table: Any
    time: str | ColumnElement
    sums: Mapping[str, Tally | ColumnElement]
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


def _numpy_path(dialect: Dialect, walk: Walk, group: ColumnElement | None) -> bool:
    """Numpy tallies what the database would sort: on SQLite a grouping by an integer field, on PostgreSQL
    (which hashes its groups) such a grouping with quantiles (percentile_cont sorts each group). Without a
    grouping SQL measured faster; strings would cost more to encode than to sort."""
    if walk.keys or group is None or not isinstance(group.type, Integer):
        return False
    if dialect.postgres and not walk.values:
        return False
    return all(isinstance(v, Tally) for v in walk.sums.values())


class Unpackable(Exception):
    """A group key too large to share its row's integer with the condition bits: the walk runs in SQL."""


class RowPlan:
    """The numpy path of a walk grouped by an integer field: per row a few integers out of the database (one
    list per column and period), aggregated per (period, group key) in numpy.

    A row's first integer holds B bits (one per tally condition, per summarised value that can be NULL, and
    for a key that can be NULL), with the group key shifted left by B above them (one list less to write): on
    SQLite always, on PostgreSQL, where an overflow would be an error, when the key is a 32-bit integer and B
    < 32 (in bigint it cannot overflow; else the key comes second). Then come each summed tally's term and
    each summarised value: a value list skips the NULLs (group_concat and string_agg do), so a nullable
    value's list holds one number per row with its bit set, and a value that cannot be NULL (`never_null`)
    needs no bit at all. On SQLite a key so large that the first integer overflows comes back as a real
    (SQLite's overflow): the walk then runs in SQL.
    """

    def __init__(
        self,
        tallies: Mapping[str, Tally],
        values: Mapping[str, ColumnElement],
        group,
        *,
        postgres: bool,
        known: Sequence[ColumnElement] = (),
    ):
        self.tallies, self.values, self.group = dict(tallies), dict(values), group
        self.postgres = postgres
        self.bits: list[ColumnElement] = []
        self.tally_bits = {
            n: self._bit(and_(*t.conditions)) if t.conditions else None
            for n, t in self.tallies.items()
            if t.expr is None
        }
        self.value_bits = {
            n: None if never_null(v, known) else self._bit(v.isnot(None)) for n, v in self.values.items()
        }
        self.null_key_bit = None if never_null(group, known) else self._bit(group.is_(None))
        width = len(self.bits)
        if width > 40:
            raise Unpackable("too many conditions for one row's bits")
        flags = [case((b, 1 << i), else_=0) for i, b in enumerate(self.bits)]
        head = functools.reduce(operator.add, flags) if flags else literal(0)
        key = group if self.null_key_bit is None else func.coalesce(group, 0)
        # One list fewer measured ~15% less server time on PostgreSQL (an array_agg less per row).
        self.packed = not postgres or (
            isinstance(group.type, Integer) and not isinstance(group.type, BigInteger) and width < 32
        )
        if not self.packed:
            self.columns = [head, key]
        elif width:
            self.columns = [(cast(key, BigInteger) if postgres else key) * (1 << width) + head]
        else:
            self.columns = [key]
        self.summed = [n for n, t in self.tallies.items() if t.expr is not None]
        self.columns += [self.tallies[n].term() for n in self.summed]
        self.columns += list(self.values.values())

    def _bit(self, condition: ColumnElement) -> int:
        self.bits.append(condition)
        return len(self.bits) - 1

    @property
    def arrays(self) -> bool:
        """PostgreSQL, integer columns only: the lists come as one int8[] in binary (`fetch_arrays`)."""
        return self.postgres and all(isinstance(column.type, Integer) for column in self.columns)

    def row_list(self) -> ColumnElement:
        """Aggregate: per column, every row's integer comma-separated (rows in the same order; a value column
        skips its NULLs), the columns separated by ';' (one list each: cheaper than formatting each row).
        With `arrays`, one int8[] instead: the row count, then each column's values."""
        if self.arrays:
            whole = ARRAY(BigInteger)
            out = pg_array([cast(func.count(), BigInteger)], type_=BigInteger)
            nullable = [i is not None for i in self.value_bits.values()]
            skips = [False] * (len(self.columns) - len(nullable)) + nullable
            for column, skip in zip(self.columns, skips, strict=True):
                agg = func.array_agg(cast(column, BigInteger), type_=whole)
                out = out.op("||", return_type=whole)(agg.filter(column.isnot(None)) if skip else agg)
            return out
        if self.postgres:
            lists = [func.string_agg(cast(column, Text), literal(",")) for column in self.columns]
            return func.concat_ws(literal(";"), *(func.coalesce(x, literal("")) for x in lists))
        lists = [func.group_concat(column) for column in self.columns]
        if len(lists) == 1:
            return lists[0]
        return func.printf(literal(";".join(["%s"] * len(lists))), *lists)

    def _split(self, raw) -> list[np.ndarray]:
        """One period's column arrays from its text lists or its int8[] (see `row_list`)."""
        width = len(self.columns)
        if not isinstance(raw, np.ndarray):
            lists = raw.split(";")
            if len(lists) != width:
                raise Unpackable("not one list per column")
            return [stats.parse_numbers(t, exact=True) for t in lists]
        n = int(raw[0])
        fixed = width - len(self.values)
        columns = [raw[1 + i * n : 1 + (i + 1) * n] for i in range(fixed)]
        start = 1 + fixed * n
        for i in self.value_bits.values():
            size = n if i is None else int(np.count_nonzero((columns[0] >> i) & 1))
            columns.append(raw[start : start + size])
            start += size
        if start != len(raw) or len(columns[0]) != n:
            raise Unpackable("an array of unexpected length")
        return columns

    def aggregate(self, raw, bounds, quantiles, prefix: Key) -> dict[tuple[int, Key], dict[str, Any]]:
        """{(period index, key): figures} from the (period index, column lists) of each period."""
        width = len(self.columns)
        periods, parts = [], [[] for _ in range(width)]
        for k, lists in raw:
            if lists is None or not len(lists):
                continue
            columns = self._split(lists)
            periods.append(np.full(len(columns[0]), int(k)))
            for part, column in zip(parts, columns, strict=True):
                part.append(column)
        period = np.concatenate(periods) if periods else np.empty(0, dtype=np.int64)
        if not period.size:
            return {}
        table = [np.concatenate(part) if len(part) > 1 else part[0] for part in parts]
        head = table[0]
        if head.dtype.kind == "f":  # SQLite's overflow of a large key: a real
            raise Unpackable("a group key too large for the row's integer")
        shift = len(self.bits)
        if self.packed:
            bits, key = head & ((1 << shift) - 1), head >> shift
        else:
            bits, key = head, table[1]

        def bit(i: int) -> np.ndarray:
            return (bits >> i) & 1 == 1

        rows = len(period)
        column = iter(range(1 if self.packed else 2, width))
        summed = {name: table[next(column)] for name in self.summed}
        values = {name: table[next(column)] for name in self.values}
        present = {n: None if i is None else bit(i) for n, i in self.value_bits.items()}
        expected = [rows] * (width - len(values))
        expected += [rows if present[n] is None else int(np.count_nonzero(present[n])) for n in values]
        if [len(c) for c in table] != expected:
            raise Unpackable("column lists of unexpected lengths")
        if self.null_key_bit is None:
            distinct, codes = _codes(key)
            key_values = [int(v) for v in distinct]
        else:
            null = bit(self.null_key_bit)
            distinct, code = _codes(key[~null])
            codes = np.full(len(key), len(distinct), dtype=np.int64)
            codes[~null] = code
            key_values = [*(int(v) for v in distinct), None]
        segments, segment = _codes(period * len(key_values) + codes)
        n = len(segments)
        figures: dict[str, list] = {}
        sizes = np.bincount(segment, minlength=n)
        for name, i in self.tally_bits.items():
            counted = sizes if i is None else np.bincount(segment[bit(i)], minlength=n)
            figures[name] = [int(v) for v in counted]
        for name in self.summed:
            figures[name] = _exact_sums(segment, summed[name], n)
        for name in self.values:
            # Whole seconds stay int64: no float copy before the sort.
            rows_of = segment if present[name] is None else segment[present[name]]
            figures[name] = stats.segment_summaries(
                rows_of, values[name], n, list(quantiles), bounds.get(name, ())
            )
        out = {}
        for s, joined in enumerate(segments.tolist()):
            p, c = divmod(joined, len(key_values))
            out[(p, (*prefix, key_values[c]))] = {name: figures[name][s] for name in figures}
        return out


def never_null(expr: ColumnElement, known: Sequence[ColumnElement] = ()) -> bool:
    """True when expr cannot be NULL: a NOT NULL column, one of the `known` (such as the walk's time column,
    bounded by its range), a literal, or arithmetic on such. Anything else may be NULL."""
    if any(expr is k for k in known):
        return True
    if isinstance(expr, Column):
        return not expr.nullable
    if isinstance(expr, BindParameter):
        return expr.value is not None
    if isinstance(expr, BinaryExpression) and expr.operator in _ARITHMETIC:
        return never_null(expr.left, known) and never_null(expr.right, known)
    return False


_ARITHMETIC = (operators.add, operators.sub, operators.mul)


def fetch_arrays(db_session: Session, stmt, params: dict) -> list[tuple[int, np.ndarray | None]]:
    """PostgreSQL: the (k, int8[]) rows of a `RowPlan` statement with the arrays in binary, decoded by numpy.

    The text form costs the server a number formatted per value and the client a parse of every digit; in
    binary each element is a 4-byte length and 8 big-endian bytes, read in one np.frombuffer. Runs on the
    session's own connection (its transaction) through the driver, which SQLAlchemy's results cannot ask for.
    """
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    class Raw(Loader):
        format = Format.BINARY

        def load(self, data):
            return bytes(data)

    connection = db_session.connection()
    # The scope's IN lists expand at execution: expand them here, as SQLAlchemy's execution would.
    compiled = stmt.compile(dialect=connection.dialect)
    expanded = compiled.construct_expanded_state(compiled.construct_params(params))
    driver = connection.connection.driver_connection
    with driver.cursor(binary=True) as cursor:
        cursor.adapters.register_loader(_INT8_ARRAY, Raw)
        cursor.execute(expanded.statement, expanded.parameters)
        return [(int(k), _int8_array(data)) for k, data in cursor.fetchall()]


_INT8_ARRAY = 1016  # PostgreSQL's oid of int8[]
_ELEMENTS = np.dtype([("length", ">i4"), ("value", ">i8")])


def _int8_array(data: bytes | None) -> np.ndarray | None:
    """A one-dimensional int8[] without NULLs from PostgreSQL's binary form (header, then per element its
    length and value)."""
    if data is None:
        return None
    dims = int.from_bytes(data[0:4], "big")
    if dims == 0:
        return np.empty(0, dtype=np.int64)
    has_null, element = int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big")
    if dims != 1 or has_null or element != 20:
        raise Unpackable("not a one-dimensional int8[] without NULLs")
    elements = np.frombuffer(data, dtype=_ELEMENTS, offset=20)
    return elements["value"].astype(np.int64)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True), by counting instead of sorting when the range is small."""
    if not values.size:
        return values, values
    low, high = int(values.min()), int(values.max())
    if high - low > 4 * len(values) + 1_000_000:
        return np.unique(values, return_inverse=True)
    offset = values - low
    present = np.bincount(offset, minlength=high - low + 1) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present) + low, rank[offset]


def _exact_sums(segment: np.ndarray, terms: np.ndarray, n: int) -> list:
    """Per segment, the sum of the terms (integers stay exact integers)."""
    if terms.dtype.kind == "f":
        return [float(v) for v in np.bincount(segment, weights=terms, minlength=n)]
    totals = np.zeros(n, dtype=np.int64)
    np.add.at(totals, segment, terms)
    return [int(v) for v in totals]


def _run(db_session, dialect, walk, periods, scope, group, prefix) -> dict[tuple[int, Key], dict[str, Any]]:
    source, index, start, end, params = dialect.periods(periods)
    time = walk.table.c[walk.time] if isinstance(walk.time, str) else walk.time
    lo, hi = start - walk.shift, end - walk.shift
    if not walk.epoch:
        lo, hi = dialect.datetime(lo), dialect.datetime(hi)
    if _numpy_path(dialect, walk, group):
        try:
            values = {n: v.expr for n, v in walk.values.items()}
            plan = RowPlan(walk.sums, values, group, postgres=dialect.postgres, known=[time])
            per_period = (
                select(plan.row_list())
                .select_from(walk.table)
                .where(time >= lo, time < hi, *walk.where, *scope)
                .correlate(source)
                .scalar_subquery()
            )
            stmt = select(index.label("k"), per_period.label("rows")).select_from(source)
            if plan.arrays:
                raw = fetch_arrays(db_session, stmt, params)
            else:
                raw = db_session.execute(stmt, params).all()
            bounds = {name: v.bounds for name, v in walk.values.items()}
            return plan.aggregate(raw, bounds, stats.QUANTILES.values(), prefix)
        except Unpackable:
            pass  # the SQL below answers
    grouping = [*walk.keys, *([group] if group is not None else [])]
    keys = [*walk.keys, group if group is not None else null()]
    labels = [f"k{i}" for i in range(len(keys))]
    sums = {name: aggregate_sql(expr) for name, expr in walk.sums.items()}
    aggregates = {**sums, **{name: dialect.values(v) for name, v in walk.values.items()}}
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


def count_where(*conditions: ColumnElement) -> Tally:
    """Aggregate: how many rows meet all the conditions (every row without any)."""
    return Tally(tuple(conditions))


def sum_where(expr: ColumnElement, *conditions: ColumnElement) -> Tally:
    """Aggregate: the sum of expr over the rows that meet all the conditions (0 when none does)."""
    return Tally(tuple(conditions), expr)


def null_or_after(column: ColumnElement, bound: ColumnElement) -> ColumnElement:
    """column IS NULL OR column > bound."""
    return or_(column.is_(None), column > bound)


def scalar_query(
    db_session: Session, table: Table, aggregates: Mapping[str, Tally | ColumnElement], where, group
):
    """{key: {label: value}} of one grouped aggregate query (no periods)."""
    key = group if group is not None else null()
    columns = (aggregate_sql(e).label(n) for n, e in aggregates.items())
    stmt = select(key.label("g"), *columns).where(*where)
    if group is not None:
        stmt = stmt.group_by(key)
    out: dict[Key, dict[str, Any]] = {}
    for row in db_session.execute(stmt.select_from(table)):
        out[(row[0],)] = {n: row._mapping[n] for n in aggregates}
    return out
