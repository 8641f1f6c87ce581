"""ServiceNow encoded queries (sysparm_query): parse into conditions, resolve relative dates (pure).

Grammar: queries joined by ^NQ (OR of whole queries); each a list of terms joined by ^ (AND); a term starting
with OR is ORed with the term before it; ORDERBY<field> / ORDERBYDESC<field> order; EQ ends a query. A
condition is <field><operator><value>, the field lowercase and optionally dot-walked through up to
MAX_DOT_WALK references (assignment_group.manager.name). A related-list query
RLQUERY<table>.<reference>,<count condition>^<conditions>^ENDRLQUERY is one term: the records that
<count condition> (>=1, =0, <3 ...) records of <table> matching <conditions> refer to through <reference>.
A literal ^ in a value is written ^^. `query_sql` compiles the result to SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Longest first, so NOT IN wins over IN and ISNOTEMPTY over ISEMPTY.
OPERATORS = (
    "ISNOTEMPTY",
    "ISEMPTY",
    "ANYTHING",
    "NOT IN",
    "NOTLIKE",
    "STARTSWITH",
    "ENDSWITH",
    "BETWEEN",
    "LIKE",
    "IN",
    "!=",
    ">=",
    "<=",
    "=",
    ">",
    "<",
)
# Operators without a value.
UNARY = frozenset({"ISEMPTY", "ISNOTEMPTY", "ANYTHING"})

# References a condition may walk through (a.b.c.d walks three): each walk is a sub-select, so bounded.
MAX_DOT_WALK = 3
_FIELD = r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*"
_CONDITION = re.compile(rf"^({_FIELD})({'|'.join(re.escape(op) for op in OPERATORS)})(.*)$", re.DOTALL)
_ORDER = re.compile(rf"^ORDERBY(DESC)?({_FIELD})$")
_CARET = "\x00"
_RELATED = re.compile(r"^RLQUERY([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*),(=|!=|>=|<=|>|<)(\d{1,9})(,m2m)?$")


class QuerySyntaxError(ValueError):
    """An encoded query this parser does not understand; the message names the part."""


@dataclass(frozen=True)
class Condition:
    """field operator value; `values` holds IN's list or BETWEEN's two ends."""

    field: str
    operator: str
    value: str = ""

    @property
    def values(self) -> list[str]:
        """The comma-separated values of IN / NOT IN, or BETWEEN's two ends (separated by @)."""
        if self.operator == "BETWEEN":
            parts = self.value.split("@")
            if len(parts) != 2:
                raise QuerySyntaxError(f"{self.field}BETWEEN needs two values separated by @")
            return parts
        return [v for v in (p.strip() for p in self.value.split(",")) if v != ""]


@dataclass(frozen=True)
class RelatedQuery:
    """RLQUERY: records of `table` whose `reference` points at the record, counted among those matching
    `query`, compared with `count` by `quantifier` (">=", "=", ...)."""

    table: str
    reference: str
    quantifier: str
    count: int
    query: EncodedQuery

    @property
    def field(self) -> str:
        """The related table and reference, for messages naming the part."""
        return f"RLQUERY{self.table}.{self.reference}"

    operator = "RLQUERY"


@dataclass
class EncodedQuery:
    """Alternatives (^NQ) of conjunctions (^) of disjunctions (^OR) of conditions, and the order."""

    alternatives: list[list[list[Condition | RelatedQuery]]] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)

    def conditions(self) -> list[Condition | RelatedQuery]:
        """Every condition, in order (for checking the fields before compiling)."""
        return [c for alt in self.alternatives for group in alt for c in group]


def _parse_condition(term: str) -> Condition:
    match = _CONDITION.match(term)
    if match is None:
        raise QuerySyntaxError(f"sysparm_query: cannot read the condition {term!r}")
    name, op, value = match.groups()
    _check_depth(name)
    value = value.replace(_CARET, "^")
    if op in UNARY and value:
        raise QuerySyntaxError(f"sysparm_query: {op} takes no value in {term!r}")
    return Condition(name, op, value)


def parse(text: str | None) -> EncodedQuery:
    """Parse an encoded query; QuerySyntaxError names what it cannot read."""
    query = EncodedQuery()
    if not text:
        return query
    text = text.replace("^^", _CARET)
    for part in text.split("^NQ"):
        conjunction = _conjunction(part.split("^"), query, related=None)
        if conjunction:
            query.alternatives.append(conjunction)
    return query


def _conjunction(terms: list[str], query: EncodedQuery, related: str | None) -> list[list]:
    """The ANDed groups of these terms (consumed from the front); inside an RLQUERY up to its ENDRLQUERY."""
    conjunction: list[list[Condition | RelatedQuery]] = []
    while terms:
        term = terms.pop(0).strip()
        if not term or term == "EQ":
            continue
        if term == "ENDRLQUERY":
            if related is None:
                raise QuerySyntaxError("sysparm_query: ENDRLQUERY without an RLQUERY before it")
            return conjunction
        order = _ORDER.match(term)
        if order:
            if related is not None:
                raise QuerySyntaxError(f"sysparm_query: {related}: a related-list query cannot be ordered")
            _check_depth(order.group(2))
            query.order.append((order.group(2), bool(order.group(1))))
        elif term.startswith("RLQUERY"):
            conjunction.append([_related(term, terms, related)])
        elif term.startswith("OR") and _CONDITION.match(term[2:]):
            if not conjunction:
                raise QuerySyntaxError(f"sysparm_query: {term!r} has no condition before it to OR with")
            conjunction[-1].append(_parse_condition(term[2:]))
        else:
            conjunction.append([_parse_condition(term)])
    if related is not None:
        raise QuerySyntaxError(f"sysparm_query: {related} has no ^ENDRLQUERY (nor may it hold ^NQ)")
    return conjunction


def _related(term: str, terms: list[str], outer: str | None) -> RelatedQuery:
    match = _RELATED.match(term)
    if match is None:
        raise QuerySyntaxError(
            f"sysparm_query: cannot read {term!r}: write RLQUERY<table>.<reference>,<op><count>, "
            "e.g. RLQUERYincident.problem_id,>=1"
        )
    if outer is not None:
        raise QuerySyntaxError(f"sysparm_query: {term}: related-list queries cannot be nested")
    table, reference, quantifier, count, m2m = match.groups()
    if m2m:
        raise QuerySyntaxError(f"sysparm_query: {term}: many-to-many related-list queries are not supported")
    inner = EncodedQuery()
    label = f"RLQUERY{table}.{reference}"
    conjunction = _conjunction(terms, inner, related=label)
    if conjunction:
        inner.alternatives.append(conjunction)
    return RelatedQuery(table, reference, quantifier, int(count), inner)


def _check_depth(name: str) -> None:
    if name.count(".") > MAX_DOT_WALK:
        raise QuerySyntaxError(
            f"sysparm_query: {name}: dot-walking goes through at most {MAX_DOT_WALK} references"
        )


# --------------------------------------------------------------------------------------- relative dates

_JS = re.compile(r"^javascript:\s*gs\.(\w+)\((.*)\)\s*;?\s*$", re.DOTALL)


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _int_arg(name: str, args: list[str], default: int = 0) -> int:
    if not args or args[0] == "":
        return default
    try:
        return int(args[0])
    except ValueError:
        raise QuerySyntaxError(f"sysparm_query: gs.{name} needs a whole number, got {args[0]!r}") from None


def _month_start(day: datetime) -> datetime:
    return _start_of_day(day).replace(day=1)


def relative_date(value: str, *, now: datetime) -> datetime | None:
    """The time a `javascript:gs.xxx(...)` helper stands for (UTC), or None when the value is not one."""
    match = _JS.match(value.strip())
    if match is None:
        return None
    name, raw_args = match.group(1), match.group(2)
    args = [a.strip().strip("'\"") for a in raw_args.split(",")] if raw_args.strip() else []
    now = now.astimezone(UTC)
    today = _start_of_day(now)
    end = timedelta(days=1, microseconds=-1)
    if name == "dateGenerate":
        if not args:
            raise QuerySyntaxError("sysparm_query: gs.dateGenerate needs a date")
        day = datetime.strptime(args[0], "%Y-%m-%d").replace(tzinfo=UTC)
        if len(args) > 1 and args[1] in ("start", "end"):
            return day if args[1] == "start" else day + end
        clock = args[1] if len(args) > 1 else "00:00:00"
        return datetime.strptime(f"{args[0]} {clock}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    fixed = {
        "now": now,
        "nowDateTime": now,
        "beginningOfToday": today,
        "endOfToday": today + end,
        "beginningOfYesterday": today - timedelta(days=1),
        "endOfYesterday": today - timedelta(days=1) + end,
        "beginningOfTomorrow": today + timedelta(days=1),
        "endOfTomorrow": today + timedelta(days=1) + end,
        "beginningOfThisWeek": today - timedelta(days=today.weekday()),
        "endOfThisWeek": today - timedelta(days=today.weekday()) + timedelta(days=7, microseconds=-1),
        "beginningOfLastWeek": today - timedelta(days=today.weekday() + 7),
        "endOfLastWeek": today - timedelta(days=today.weekday()) - timedelta(microseconds=1),
        "beginningOfThisMonth": _month_start(now),
        "beginningOfLastMonth": _month_start(_month_start(now) - timedelta(days=1)),
        "endOfLastMonth": _month_start(now) - timedelta(microseconds=1),
    }
    if name in fixed:
        return fixed[name]
    relative = {
        "daysAgo": lambda n: now - timedelta(days=n),
        "daysAgoStart": lambda n: today - timedelta(days=n),
        "daysAgoEnd": lambda n: today - timedelta(days=n) + end,
        "hoursAgo": lambda n: now - timedelta(hours=n),
        "hoursAgoStart": lambda n: now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=n),
        "hoursAgoEnd": lambda n: now.replace(minute=59, second=59, microsecond=999999) - timedelta(hours=n),
        "minutesAgo": lambda n: now - timedelta(minutes=n),
        "minutesAgoStart": lambda n: now.replace(second=0, microsecond=0) - timedelta(minutes=n),
        "minutesAgoEnd": lambda n: now.replace(second=59, microsecond=999999) - timedelta(minutes=n),
    }
    if name in relative:
        return relative[name](_int_arg(name, args))
    raise QuerySyntaxError(f"sysparm_query: the date helper gs.{name}() is not supported")
