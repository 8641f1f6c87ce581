"""The numpy path of grouped walks (`queries.RowPlan`) against the SQL GROUP BY and against numpy on the raw
facts: NULL keys, NULL values, values that cannot be NULL (no bit), empty periods."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.reports.conftest import DAY, FACTS, NOW, RANGE, T0


def _report(metric: str, group_by: str | None, interval: str = "month") -> list[dict]:
    from itsm_ai import database
    from itsm_ai.reports import service

    with database.get_session() as session:
        query = service.parse_query(
            db_session=session,
            metric=metric,
            group_by=group_by,
            interval=interval,
            tz="UTC",
            now=NOW,
            **RANGE,
        )
        return service.run(db_session=session, query=query)["items"]


def _same(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected) > 0
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys()
        for name, value in b.items():
            # PostgreSQL's avg (numeric) may round its last digit differently from a float sum / n.
            exact = not isinstance(value, float)
            assert a[name] == (value if exact else pytest.approx(value, rel=1e-12)), name


@pytest.mark.parametrize("group_by", ["group", "assignee", "priority"])
def test_grouped_walks_in_numpy_equal_the_sql_grouping(facts, monkeypatch, group_by):
    from itsm_ai.reports import queries

    metrics = ("resolution-time", "reassignment", "sla-compliance", "backlog")
    tallied = []
    aggregate = queries.RowPlan.aggregate

    def spy(self, *args, **kwargs):
        tallied.append(self)
        return aggregate(self, *args, **kwargs)

    monkeypatch.setattr(queries.RowPlan, "aggregate", spy)
    numpy_rows = {m: _report(m, group_by) for m in metrics}
    assert len(tallied) >= 2  # resolution-time's two walks at least (PostgreSQL tallies only quantiles)
    monkeypatch.setattr(queries, "_numpy_path", lambda *args: False)
    for metric in metrics:
        _same(numpy_rows[metric], _report(metric, group_by))


def test_resolution_time_by_group_equals_numpy_on_the_raw_facts(facts):
    items = _report("resolution-time", "group", interval="all")
    by_group = {row["group"]: row for row in items}
    names = {None: None}
    from itsm_ai import database
    from itsm_ai.group.models import Group

    with database.get_session() as session:
        names.update({g.id: g.name for g in session.scalars(select(Group))})
    end = T0 + 181 * DAY
    for group_id, name in names.items():
        mine = [r for r in facts if r["assignment_group_id"] == group_id]
        resolved = [r for r in mine if r["resolved_at"] is not None and r["resolved_at"] < end]
        wall = np.array([r["resolved_at"] - r["opened_at"] for r in resolved], dtype=float)
        business = np.array(
            [r["resolve_business_seconds"] for r in resolved if r["resolve_business_seconds"] is not None],
            dtype=float,
        )
        responded = [r for r in mine if r["first_response_at"] is not None]
        response = np.array([r["first_response_at"] - r["opened_at"] for r in responded], dtype=float)
        row = by_group[name]
        assert row["resolved"] == wall.size and row["resolved_business"] == business.size
        assert row["resolve_hours_median"] == pytest.approx(np.quantile(wall, 0.5) / 3600, rel=1e-12)
        assert row["resolve_hours_p90"] == pytest.approx(np.quantile(wall, 0.9) / 3600, rel=1e-12)
        assert row["resolve_business_hours_p90"] == pytest.approx(
            np.quantile(business, 0.9) / 3600, rel=1e-12
        )
        assert row["responded"] == response.size
        assert row["response_hours_median"] == pytest.approx(np.quantile(response, 0.5) / 3600, rel=1e-12)
        assert row["resolved_0_1h"] == int((wall <= 3600).sum())
        assert row["resolved_7d_plus"] == int((wall > 7 * DAY).sum())


def test_a_month_without_resolutions_has_empty_figures(facts):
    items = _report("resolution-time", "group")
    may = [row for row in items if row["period"] == "2026-05"]
    assert may and all(row["resolved"] == 0 and row["resolve_hours_median"] is None for row in may)


def test_only_values_and_keys_that_can_be_null_take_a_bit():
    from itsm_ai.reports.queries import RowPlan, never_null

    t = FACTS
    assert never_null(t.c.resolved_at - t.c.opened_at, [t.c.resolved_at])
    assert not never_null(t.c.resolved_at - t.c.opened_at)
    assert not never_null(t.c.first_response_at - t.c.opened_at, [t.c.resolved_at])
    assert never_null(t.c.priority) and not never_null(t.c.assignment_group_id)
    assert not never_null(func.coalesce(t.c.resolve_business_seconds, 0))
    values = {"wall": t.c.resolved_at - t.c.opened_at, "business": t.c.resolve_business_seconds}
    by_group = RowPlan({}, values, t.c.assignment_group_id, postgres=False, known=[t.c.resolved_at])
    assert len(by_group.bits) == 2 and by_group.value_bits["wall"] is None  # business, NULL key
    by_priority = RowPlan({}, values, t.c.priority, postgres=True, known=[t.c.resolved_at])
    assert len(by_priority.bits) == 1 and by_priority.null_key_bit is None


def test_a_64_bit_key_gives_the_same_figures(facts, monkeypatch):
    # On PostgreSQL a bigint key does not share the bits' integer (it could overflow): it rides in a list of
    # its own; on SQLite it is shifted above the bits as any key.
    from sqlalchemy import BigInteger, cast

    from itsm_ai import database
    from itsm_ai.reports import queries
    from itsm_ai.reports.enums import RESOLVE_BOUNDS
    from itsm_ai.reports.periods import periods
    from itsm_ai.reports.queries import Values, Walk

    t = FACTS
    walk = Walk(
        t,
        "resolved_at",
        {"resolved": queries.count_where()},
        values={
            "wall": Values(t.c.resolved_at - t.c.opened_at, RESOLVE_BOUNDS),
            "business": Values(t.c.resolve_business_seconds),
        },
    )
    group = cast(t.c.assignment_group_id, BigInteger) + 2**40
    buckets = periods(NOW.replace(month=1), NOW, "month", "UTC")

    def run():
        with database.get_session() as session:
            return queries.run(session, walk, buckets, group=group)

    postgres = database.get_engine().dialect.name == "postgresql"
    assert not queries.RowPlan({}, {}, group, postgres=True).packed
    numpy_figures = run()
    monkeypatch.setattr(queries, "_numpy_path", lambda *args: False)
    sql_figures = run()
    assert numpy_figures.keys() == sql_figures.keys() and len(sql_figures) > 4
    for key, figures in sql_figures.items():
        for name in ("wall", "business"):
            got, expected = numpy_figures[key][name], figures[name]
            if postgres and expected["mean"] is not None:
                assert got.pop("mean") == pytest.approx(expected.pop("mean"), rel=1e-12)
            if name == "business":  # no histogram asked: PostgreSQL's SQL path still gives its one bucket
                got.pop("buckets"), expected.pop("buckets")
            assert got == expected, (key, name)
        assert numpy_figures[key]["resolved"] == figures["resolved"]
