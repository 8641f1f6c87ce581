"""Encoded queries compiled to SQL agree with a reference evaluator written straight from ServiceNow's
operator definitions, on generated records and generated queries (property test), on SQLite and PostgreSQL;
the queries walk one and two references (assignment_group.name, assignment_group.manager.user_name)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from itsm_ai import database
from itsm_ai.auth.models import User
from itsm_ai.database import utcnow
from itsm_ai.servicenow import codes
from itsm_ai.servicenow import service as sn
from itsm_ai.servicenow.query_sql import where_clause
from itsm_ai.servicenow.tables import binding
from itsm_ai.ticket.models import Incident

pytestmark = pytest.mark.db

TITLES = ("vpn down", "VPN slow", "printer jam", "disk full", "mail bounce", "Printer offline", "")
CATEGORIES = ("network", "hardware", "software", None, "")
STATES = list(codes.INCIDENT_STATES)
USERS = ("agent", "agent2", None)
GROUPS = ("Network", "Desk", None)
# Each group's manager (Desk has none, so a walk through it ends empty).
MANAGERS = {"Network": "agent", "Desk": None, None: None}


@pytest.fixture
def records(db):
    """60 incidents with random field values (seeded), inserted directly; returns them as plain dicts."""
    from itsm_ai.auth.models import User
    from itsm_ai.base.roles import Role
    from itsm_ai.database import utcnow
    from itsm_ai.group.models import Group
    from itsm_ai.ticket.models import Incident

    rng = random.Random(16)
    now = utcnow().replace(microsecond=0)
    out = []
    with database.get_session() as session:
        users = {u: User(username=u, role=Role.agent, active=True) for u in ("admin", "agent", "agent2")}
        users["admin"].role = Role.admin
        groups = {g: Group(name=g) for g in ("Network", "Desk")}
        session.add_all([*users.values(), *groups.values()])
        session.flush()
        groups["Network"].manager_id = users[MANAGERS["Network"]].id
        for i in range(60):
            row = {
                "number": f"INC{i:07d}",
                "short_description": rng.choice(TITLES) or f"untitled {i}",
                "impact": rng.randint(1, 3),
                "urgency": rng.randint(1, 3),
                "priority": rng.randint(1, 4),
                "state": rng.choice(STATES),
                "category": rng.choice(CATEGORIES),
                "opened_at": now - timedelta(days=rng.randint(0, 30)),
            }
            assignee, group = rng.choice(USERS), rng.choice(GROUPS)
            obj = Incident(
                **row,
                assigned_to_id=users[assignee].id if assignee else None,
                assignment_group_id=groups[group].id if group else None,
            )
            session.add(obj)
            session.flush()
            out.append({**row, "id": obj.id, "assigned_to": assignee, "assignment_group": group})
    return out


# ------------------------------------------------------------------------------------------- reference


def _holds(record, field, op, value) -> bool:
    """ServiceNow's meaning of one condition, evaluated on a plain record (the reference)."""
    if field == "assignment_group.name":
        field = "assignment_group"
    if field == "assignment_group.manager.user_name":
        actual = MANAGERS[record["assignment_group"]]
    elif field == "state":
        actual = str(codes.INCIDENT_STATES[record["state"]])
    elif field in ("impact", "urgency", "priority"):
        actual = record[field]
    else:
        actual = record[field]
    empty = actual is None or actual == ""
    if op == "ISEMPTY":
        return empty
    if op == "ISNOTEMPTY":
        return not empty
    if isinstance(actual, int):
        values = [int(v) for v in value.split(",")] if op in ("IN", "NOT IN") else int(value)
    else:
        values = value.split(",") if op in ("IN", "NOT IN") else value
    if op == "=":
        return actual == values
    if op == "!=":
        return empty or actual != values
    if op == "IN":
        return actual in values
    if op == "NOT IN":
        return empty or actual not in values
    if op in ("<", "<=", ">", ">="):
        ordered = {"<": actual < values, "<=": actual <= values, ">": actual > values}
        return ordered.get(op, actual >= values)
    low, text = value.lower(), (actual or "").lower()
    if op == "LIKE":
        return not empty and low in text
    if op == "NOTLIKE":
        return empty or low not in text
    if op == "STARTSWITH":
        return not empty and text.startswith(low)
    if op == "ENDSWITH":
        return not empty and text.endswith(low)
    raise AssertionError(op)


def _reference(records, alternatives) -> set[int]:
    return {
        r["id"]
        for r in records
        if any(all(any(_holds(r, *c) for c in group) for group in alt) for alt in alternatives)
    }


# ------------------------------------------------------------------------------------------- generator

_TEXT_OPS = ("=", "!=", "LIKE", "NOTLIKE", "STARTSWITH", "ENDSWITH", "ISEMPTY", "ISNOTEMPTY", "IN", "NOT IN")
_INT_OPS = ("=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN")


@st.composite
def condition(draw):
    kinds = ("title", "category", "impact", "priority", "state", "assignee", "group", "manager")
    kind = draw(st.sampled_from(kinds))
    if kind in ("title", "category"):
        field = "short_description" if kind == "title" else "category"
        op = draw(st.sampled_from(_TEXT_OPS))
        pool = ["vpn", "VPN slow", "printer", "Printer offline", "full", "network", "hard", "mail bounce"]
        value = ",".join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3)))
        if op not in ("IN", "NOT IN"):
            value = value.split(",")[0]
    elif kind in ("impact", "priority"):
        op = draw(st.sampled_from(_INT_OPS))
        field = kind
        value = ",".join(str(draw(st.integers(1, 4))) for _ in range(draw(st.integers(1, 2))))
        if op not in ("IN", "NOT IN"):
            value = value.split(",")[0]
    elif kind == "state":
        field, op = "state", draw(st.sampled_from(("=", "!=", "IN", "NOT IN")))
        value = ",".join(str(draw(st.sampled_from(list(codes.INCIDENT_STATES.values())))) for _ in range(2))
        if op in ("=", "!="):
            value = value.split(",")[0]
    elif kind == "manager":
        field = "assignment_group.manager.user_name"
        op = draw(st.sampled_from(_TEXT_OPS))
        value = ",".join(draw(st.lists(st.sampled_from(["agent", "agent2", "gent"]), min_size=1, max_size=2)))
        if op not in ("IN", "NOT IN"):
            value = value.split(",")[0]
    else:
        field = "assigned_to" if kind == "assignee" else "assignment_group.name"
        op = draw(st.sampled_from(("=", "!=", "ISEMPTY", "ISNOTEMPTY", "IN", "NOT IN")))
        pool = ["agent", "agent2"] if kind == "assignee" else ["Network", "Desk"]
        value = ",".join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2)))
        if op in ("=", "!="):
            value = value.split(",")[0]
    if op in ("ISEMPTY", "ISNOTEMPTY"):
        value = ""
    return (field, op, value)


queries = st.lists(
    st.lists(st.lists(condition(), min_size=1, max_size=2), min_size=1, max_size=3), min_size=1, max_size=2
)


def _encode(alternatives) -> str:
    return "^NQ".join(
        "^".join("^OR".join(f"{f}{o}{v}" for f, o, v in group) for group in alt) for alt in alternatives
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alternatives=queries)
def test_sql_matches_the_reference(records, alternatives):
    text = _encode(alternatives)
    with database.get_session() as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        ids, total = sn.list_records(
            db_session=session,
            b=binding("incident"),
            user=admin,
            query_text=text,
            params={},
            limit=1000,
            offset=0,
        )
        # the same query with references as sub-selects (what many matching targets compile to)
        condition, _order = where_clause(binding("incident"), text, {}, utcnow())
        sub_selected = set(session.scalars(select(Incident.id).where(condition)))
    got = set(ids)
    assert got == _reference(records, alternatives), text
    assert sub_selected == got, text
    assert total == len(got)
