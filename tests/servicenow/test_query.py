"""The encoded-query parser and the relative-date helpers (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from itsm_ai.servicenow.query import Condition, QuerySyntaxError, RelatedQuery, parse, relative_date

NOW = datetime(2026, 3, 11, 15, 30, 45, tzinfo=UTC)  # a Wednesday


def test_and_or_nq_and_order():
    q = parse("active=true^priority=1^ORpriority=2^ORDERBYDESCopened_at^NQcategory=network^ORDERBYnumber")
    assert q.alternatives == [
        [
            [Condition("active", "=", "true")],
            [Condition("priority", "=", "1"), Condition("priority", "=", "2")],
        ],
        [[Condition("category", "=", "network")]],
    ]
    assert q.order == [("opened_at", True), ("number", False)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("short_descriptionLIKEvpn", Condition("short_description", "LIKE", "vpn")),
        ("short_descriptionNOTLIKEvpn", Condition("short_description", "NOTLIKE", "vpn")),
        ("numberSTARTSWITHINC", Condition("number", "STARTSWITH", "INC")),
        ("numberENDSWITH01", Condition("number", "ENDSWITH", "01")),
        ("stateIN1,2,3", Condition("state", "IN", "1,2,3")),
        ("stateNOT IN6,7", Condition("state", "NOT IN", "6,7")),
        ("assigned_toISEMPTY", Condition("assigned_to", "ISEMPTY", "")),
        ("assigned_toISNOTEMPTY", Condition("assigned_to", "ISNOTEMPTY", "")),
        ("impact!=1", Condition("impact", "!=", "1")),
        ("impact>=2", Condition("impact", ">=", "2")),
        ("impact<=2", Condition("impact", "<=", "2")),
        ("impact>1", Condition("impact", ">", "1")),
        ("impact<3", Condition("impact", "<", "3")),
        ("assignment_group.name=Network", Condition("assignment_group.name", "=", "Network")),
        ("short_description=a=b", Condition("short_description", "=", "a=b")),
        # an uppercase operator-like text inside a value stays in the value
        ("short_descriptionLIKEINfo", Condition("short_description", "LIKE", "INfo")),
        ("short_description=x^^y", Condition("short_description", "=", "x^y")),
    ],
)
def test_operators(text, expected):
    assert parse(text).alternatives == [[[expected]]]


def test_between_and_in_values():
    cond = parse("opened_atBETWEEN2026-01-01 00:00:00@2026-02-01 00:00:00").alternatives[0][0][0]
    assert cond.values == ["2026-01-01 00:00:00", "2026-02-01 00:00:00"]
    assert parse("stateIN1, 2,,3").alternatives[0][0][0].values == ["1", "2", "3"]
    with pytest.raises(QuerySyntaxError, match="BETWEEN"):
        _ = parse("opened_atBETWEEN2026-01-01").alternatives[0][0][0].values


@pytest.mark.parametrize(
    "bad",
    [
        "stateBOGUS",
        "^ORstate=1",
        "Number=1",
        "assigned_toISEMPTYx",
        "a.b.c.d.e=1",  # deeper than MAX_DOT_WALK
        "ORDERBYa.b.c.d.e",
        "=1",
        "RLQUERYincident.problem_id,>=1^active=true",  # no ENDRLQUERY
        "RLQUERYincident.problem_id,>=1^active=true^NQactive=false^ENDRLQUERY",
        "active=true^ENDRLQUERY",
        "RLQUERYincident,>=1^ENDRLQUERY",
        "RLQUERYincident.problem_id,>=x^ENDRLQUERY",
        "RLQUERYincident.problem_id,>=1,m2m^ENDRLQUERY",
        "RLQUERYincident.problem_id,>=1^RLQUERYincident.problem_id,>=1^ENDRLQUERY^ENDRLQUERY",
        "RLQUERYincident.problem_id,>=1^ORDERBYnumber^ENDRLQUERY",
    ],
)
def test_what_it_cannot_read_is_a_clear_error(bad):
    with pytest.raises(QuerySyntaxError, match="sysparm_query"):
        parse(bad)


def test_empty_parts_and_eq_are_ignored():
    assert parse("").alternatives == []
    assert parse(None).alternatives == []
    assert parse("^state=1^^category=x").alternatives == [[[Condition("state", "=", "1^category=x")]]]
    assert parse("state=1^EQ").alternatives == [[[Condition("state", "=", "1")]]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("javascript:gs.daysAgoStart(7)", datetime(2026, 3, 4, tzinfo=UTC)),
        ("javascript:gs.daysAgoEnd(1)", datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=UTC)),
        ("javascript:gs.daysAgo(2)", datetime(2026, 3, 9, 15, 30, 45, tzinfo=UTC)),
        ("javascript:gs.hoursAgo(3)", datetime(2026, 3, 11, 12, 30, 45, tzinfo=UTC)),
        ("javascript:gs.minutesAgoStart(30)", datetime(2026, 3, 11, 15, 0, tzinfo=UTC)),
        ("javascript:gs.beginningOfToday()", datetime(2026, 3, 11, tzinfo=UTC)),
        ("javascript:gs.beginningOfYesterday()", datetime(2026, 3, 10, tzinfo=UTC)),
        ("javascript:gs.beginningOfThisWeek()", datetime(2026, 3, 9, tzinfo=UTC)),
        ("javascript:gs.beginningOfLastWeek()", datetime(2026, 3, 2, tzinfo=UTC)),
        ("javascript:gs.beginningOfThisMonth()", datetime(2026, 3, 1, tzinfo=UTC)),
        ("javascript:gs.beginningOfLastMonth()", datetime(2026, 2, 1, tzinfo=UTC)),
        ("javascript:gs.endOfLastMonth()", datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)),
        ("javascript:gs.dateGenerate('2026-01-05','12:00:00')", datetime(2026, 1, 5, 12, tzinfo=UTC)),
        (
            "javascript:gs.dateGenerate('2026-01-05','end')",
            datetime(2026, 1, 5, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        ("2026-01-05 10:00:00", None),
    ],
)
def test_relative_dates(value, expected):
    assert relative_date(value, now=NOW) == expected


def test_unknown_date_helper_is_named():
    with pytest.raises(QuerySyntaxError, match="gs.quarterAgo"):
        relative_date("javascript:gs.quarterAgo(1)", now=NOW)
    with pytest.raises(QuerySyntaxError, match="whole number"):
        relative_date("javascript:gs.daysAgo(x)", now=NOW)


def test_dot_walks_several_levels():
    cond = parse("problem_id.assignment_group.manager.user_name=boss").alternatives[0][0][0]
    assert cond == Condition("problem_id.assignment_group.manager.user_name", "=", "boss")


def test_related_list_query_is_one_term():
    q = parse(
        "short_descriptionLIKEvpn^RLQUERYincident.problem_id,>=2^active=true^ORimpact=1^ENDRLQUERY^state=101"
    )
    first, related, last = q.alternatives[0]
    assert first == [Condition("short_description", "LIKE", "vpn")] and last == [
        Condition("state", "=", "101")
    ]
    (rq,) = related
    assert isinstance(rq, RelatedQuery)
    assert (rq.table, rq.reference, rq.quantifier, rq.count) == ("incident", "problem_id", ">=", 2)
    assert rq.query.alternatives == [[[Condition("active", "=", "true"), Condition("impact", "=", "1")]]]
    empty = parse("^RLQUERYincident.problem_id,=0^ENDRLQUERY").alternatives[0][0][0]
    assert empty.query.alternatives == [] and (empty.quantifier, empty.count) == ("=", 0)
