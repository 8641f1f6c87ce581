"""ServiceNow's names and codes for our records: tables, fields, state codes, priority and sys_ids (pure).

Each ServiceNow table maps onto one of our record types; each of its fields onto one attribute with a kind
that says how values convert (state codes, reference sys_ids, "YYYY-MM-DD HH:MM:SS" UTC dates). The service
turns these tables into SQL and JSON; nothing here knows the database.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType


class Kind(StrEnum):
    """How a field's value converts between ServiceNow's strings and our attribute."""

    text = "text"
    integer = "integer"
    boolean = "boolean"
    datetime = "datetime"
    state = "state"  # the table's own integer codes <-> our state names
    priority = "priority"  # ServiceNow 1-5 <-> ours 1-4
    reference = "reference"  # a foreign key shown as the target's sys_id
    sys_id = "sys_id"  # the record's own id, shown as its 32-hex sys_id
    mod_count = "mod_count"  # sys_mod_count: our optimistic-lock version minus one
    active = "active"  # true while the state is not a final one
    journal = "journal"  # comments / work_notes: write-only, each write adds an entry
    element_id = "element_id"  # a journal entry's ticket, shown as its sys_id
    table_name = "table_name"  # a journal entry's ticket table (sys_journal_field.name)
    secret = "secret"  # write-only (a user's password): shown empty, never queried


@dataclass(frozen=True)
class FieldDef:
    """One ServiceNow field: our attribute (a column or relationship name), its kind, and for references the
    ServiceNow table it points at."""

    attr: str
    kind: Kind = Kind.text
    target: str | None = None
    writable: bool = True


@dataclass(frozen=True)
class TableDef:
    """One ServiceNow table over one of our record types."""

    name: str
    record_type: str
    fields: MappingProxyType
    # Our state name -> ServiceNow code (integer tables) or value; empty when the table has no state field.
    states: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    # Our states that make a record inactive (active=false).
    final_states: frozenset[str] = frozenset()
    # The attribute a reference to a record of this table shows as its display value.
    display_attr: str = "number"
    # The attribute a reference given as text (not a sys_id) is looked up by.
    key_attr: str = "number"

    def field(self, name: str) -> FieldDef | None:
        """The field of this ServiceNow name, or None."""
        return self.fields.get(name)

    def state_code(self, state: str | None) -> str:
        """The ServiceNow code of one of our states ("" for none)."""
        if state is None:
            return ""
        return str(self.states.get(state, state))

    def state_name(self, code: str) -> str | None:
        """Our state for a ServiceNow code (or one of our own state names), None when unknown."""
        text = str(code).strip()
        for name, value in self.states.items():
            if text == str(value) or text == name:
                return name
        return None

    def state_label(self, state: str | None) -> str:
        """The display value of a state ("In Progress")."""
        return "" if state is None else STATE_LABELS.get(state, state.replace("_", " ").title())


# ------------------------------------------------------------------------------------------- priority

# ServiceNow's priority runs 1 Critical .. 5 Planning; ours 1 Critical .. 4 Low from the same impact x urgency
# lookup. 1-4 keep their number; 5 (Planning) has no counterpart, so we never show it and a query for it
# matches nothing.
PRIORITY_TO_SN = MappingProxyType({1: 1, 2: 2, 3: 3, 4: 4})
PRIORITY_LABELS = MappingProxyType(
    {1: "1 - Critical", 2: "2 - High", 3: "3 - Moderate", 4: "4 - Low", 5: "5 - Planning"}
)
LEVEL_LABELS = MappingProxyType({1: "1 - High", 2: "2 - Medium", 3: "3 - Low"})


def priority_from_sn(value: str) -> int | None:
    """Our priority for a ServiceNow priority code; None for 5 (Planning), which none of ours is."""
    code = int(str(value).split("-")[0].strip())
    return next((ours for ours, sn in PRIORITY_TO_SN.items() if sn == code), None)


# ------------------------------------------------------------------------------------------- sys_ids

# A sys_id is 8 hex digits naming the record type and 24 holding the id, so it is stable, 32 hex like
# ServiceNow's, decodes without a look-up table, and sorts like the id within one table (pysnc pages in
# sys_id order).
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")


@lru_cache(maxsize=64)
def _tag(record_type: str) -> str:
    return hashlib.sha256(record_type.encode()).hexdigest()[:8]


def encode_sys_id(record_type: str, record_id: int) -> str:
    """The sys_id of one of our records."""
    return f"{_tag(record_type)}{record_id:024x}"


def decode_sys_id(sys_id: str, record_type: str) -> int | None:
    """The id of a record of this type from its sys_id; None when it is not one of this type's sys_ids."""
    text = str(sys_id).strip().lower()
    if not _SYS_ID.match(text) or text[:8] != _tag(record_type):
        return None
    return int(text[8:], 16)


def looks_like_sys_id(value: str) -> bool:
    """True for a 32-hex string."""
    return bool(_SYS_ID.match(str(value).strip().lower()))


# ------------------------------------------------------------------------------------------- dates

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_datetime(value: datetime | None) -> str:
    """ServiceNow's UTC date-time text ("" for none)."""
    return "" if value is None else value.astimezone(UTC).strftime(DATE_FORMAT)


def parse_datetime(text: str) -> datetime:
    """A ServiceNow date or date-time (UTC), or ISO 8601; ValueError otherwise."""
    text = str(text).strip().strip("'\"")
    for fmt in (DATE_FORMAT, "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ------------------------------------------------------------------------------------------- tables

STATE_LABELS = {
    "new": "New",
    "in_progress": "In Progress",
    "on_hold": "On Hold",
    "resolved": "Resolved",
    "closed": "Closed",
    "cancelled": "Canceled",
    "assess": "Assess",
    "root_cause_analysis": "Root Cause Analysis",
    "known_error": "Fix in Progress",
    "draft": "New",
    "authorize": "Authorize",
    "scheduled": "Scheduled",
    "implement": "Implement",
    "review": "Review",
    "submitted": "Open",
    "approval": "Pending",
    "fulfilment": "Work in Progress",
    "rejected": "Closed Incomplete",
    "published": "Published",
    "retired": "Retired",
}

INCIDENT_STATES = {"new": 1, "in_progress": 2, "on_hold": 3, "resolved": 6, "closed": 7, "cancelled": 8}
# ServiceNow's problem states; our known_error is its "Fix in Progress", our cancelled has no code of its own
# there (a closed problem with a resolution code), so it gets 108 beside Closed's 107.
PROBLEM_STATES = {
    "new": 101,
    "assess": 102,
    "root_cause_analysis": 103,
    "known_error": 104,
    "resolved": 106,
    "closed": 107,
    "cancelled": 108,
}
CHANGE_STATES = {
    "draft": -5,
    "assess": -4,
    "authorize": -3,
    "scheduled": -2,
    "implement": -1,
    "review": 0,
    "closed": 3,
    "cancelled": 4,
}
REQUEST_STATES = {
    "approval": -5,
    "submitted": 1,
    "fulfilment": 2,
    "closed": 3,
    "rejected": 4,
    "cancelled": 7,
}
ARTICLE_STATES = {"draft": "draft", "review": "review", "published": "published", "retired": "retired"}

TASK_FIELDS = {
    "sys_id": FieldDef("id", Kind.sys_id, writable=False),
    "number": FieldDef("number", writable=False),
    "short_description": FieldDef("short_description"),
    "description": FieldDef("description"),
    "state": FieldDef("state", Kind.state),
    "active": FieldDef("state", Kind.active, writable=False),
    "impact": FieldDef("impact", Kind.integer),
    "urgency": FieldDef("urgency", Kind.integer),
    # Derived from impact and urgency by the workflow engine, as ServiceNow's priority lookup does.
    "priority": FieldDef("priority", Kind.priority, writable=False),
    "category": FieldDef("category"),
    "subcategory": FieldDef("subcategory"),
    "close_code": FieldDef("resolution_code"),
    "close_notes": FieldDef("resolution_notes"),
    "correlation_id": FieldDef("correlation_id"),
    "location": FieldDef("location"),
    "assignment_group": FieldDef("assignment_group", Kind.reference, "sys_user_group"),
    "assigned_to": FieldDef("assigned_to", Kind.reference, "sys_user"),
    "caller_id": FieldDef("caller", Kind.reference, "sys_user"),
    "opened_at": FieldDef("opened_at", Kind.datetime),
    "resolved_at": FieldDef("resolved_at", Kind.datetime, writable=False),
    "closed_at": FieldDef("closed_at", Kind.datetime, writable=False),
    "sys_created_on": FieldDef("created_at", Kind.datetime, writable=False),
    "sys_updated_on": FieldDef("updated_at", Kind.datetime, writable=False),
    "sys_mod_count": FieldDef("version", Kind.mod_count, writable=False),
    "comments": FieldDef("public", Kind.journal),
    "work_notes": FieldDef("internal", Kind.journal),
}
TICKET_FINAL = frozenset({"resolved", "closed", "cancelled", "rejected"})


def _table(name: str, record_type: str, fields: dict, **kw) -> TableDef:
    return TableDef(name=name, record_type=record_type, fields=MappingProxyType(fields), **kw)


def _ticket(name: str, record_type: str, states: dict, own: dict) -> TableDef:
    return _table(
        name,
        record_type,
        {**TASK_FIELDS, **own},
        states=MappingProxyType(states),
        final_states=TICKET_FINAL & set(states),
    )


INCIDENT = _ticket(
    "incident",
    "incident",
    INCIDENT_STATES,
    {
        "reassignment_count": FieldDef("reassignment_count", Kind.integer, writable=False),
        "reopen_count": FieldDef("reopen_count", Kind.integer, writable=False),
        "hold_reason": FieldDef("on_hold_reason"),
        "problem_id": FieldDef("problem", Kind.reference, "problem"),
    },
)
PROBLEM = _ticket(
    "problem",
    "problem",
    PROBLEM_STATES,
    {"workaround": FieldDef("workaround"), "cause_notes": FieldDef("cause_notes")},
)
CHANGE_REQUEST = _ticket(
    "change_request",
    "change",
    CHANGE_STATES,
    {
        "type": FieldDef("change_type"),
        "risk": FieldDef("risk"),
        "approval": FieldDef("approval", writable=False),
        "implementation_plan": FieldDef("implementation_plan"),
        "backout_plan": FieldDef("backout_plan"),
        "test_plan": FieldDef("test_plan"),
        "start_date": FieldDef("planned_start", Kind.datetime),
        "end_date": FieldDef("planned_end", Kind.datetime),
    },
)
_REQUEST_OWN = {
    "requested_for": FieldDef("caller", Kind.reference, "sys_user"),
    "approval": FieldDef("approval", writable=False),
    "quantity": FieldDef("quantity", Kind.integer),
}
# Our service requests are ServiceNow's request and its requested item at once: both tables show them.
SC_REQUEST = _ticket("sc_request", "service_request", REQUEST_STATES, _REQUEST_OWN)
SC_REQ_ITEM = _ticket("sc_req_item", "service_request", REQUEST_STATES, _REQUEST_OWN)
KB_KNOWLEDGE = _table(
    "kb_knowledge",
    "knowledge_article",
    {
        "sys_id": FieldDef("id", Kind.sys_id, writable=False),
        "number": FieldDef("number", writable=False),
        "short_description": FieldDef("short_description"),
        "text": FieldDef("text"),
        "workflow_state": FieldDef("state", Kind.state, writable=False),
        "active": FieldDef("state", Kind.active, writable=False),
        "kb_category": FieldDef("category"),
        "category": FieldDef("category"),
        "author": FieldDef("author", Kind.reference, "sys_user", writable=False),
        "sys_view_count": FieldDef("view_count", Kind.integer, writable=False),
        "published": FieldDef("published_at", Kind.datetime, writable=False),
        "valid_to": FieldDef("valid_to", Kind.datetime, writable=False),
        "correlation_id": FieldDef("correlation_id"),
        "sys_created_on": FieldDef("created_at", Kind.datetime, writable=False),
        "sys_updated_on": FieldDef("updated_at", Kind.datetime, writable=False),
        "sys_mod_count": FieldDef("version", Kind.mod_count, writable=False),
    },
    states=MappingProxyType(ARTICLE_STATES),
    final_states=frozenset({"retired"}),
)
CMDB_CI = _table(
    "cmdb_ci",
    "asset",
    {
        "sys_id": FieldDef("id", Kind.sys_id, writable=False),
        "asset_tag": FieldDef("number", writable=False),
        "name": FieldDef("name"),
        "sys_class_name": FieldDef("ci_class"),
        "install_status": FieldDef("status"),
        "short_description": FieldDef("description"),
        "serial_number": FieldDef("serial_number"),
        "manufacturer": FieldDef("manufacturer"),
        "model_id": FieldDef("model"),
        "location": FieldDef("location"),
        "ip_address": FieldDef("ip_address"),
        "owned_by": FieldDef("owner", Kind.reference, "sys_user"),
        "support_group": FieldDef("support_group", Kind.reference, "sys_user_group"),
        "correlation_id": FieldDef("correlation_id"),
        "sys_created_on": FieldDef("created_at", Kind.datetime, writable=False),
        "sys_updated_on": FieldDef("updated_at", Kind.datetime, writable=False),
        "sys_mod_count": FieldDef("version", Kind.mod_count, writable=False),
    },
    display_attr="name",
    key_attr="name",
)
SYS_USER = _table(
    "sys_user",
    "user",
    {
        "sys_id": FieldDef("id", Kind.sys_id, writable=False),
        "user_name": FieldDef("username"),
        "name": FieldDef("full_name"),
        "email": FieldDef("email"),
        "active": FieldDef("active", Kind.boolean),
        "roles": FieldDef("role"),
        "company": FieldDef("organisation"),
        "user_password": FieldDef("password", Kind.secret),
        "sys_created_on": FieldDef("created_at", Kind.datetime, writable=False),
        "sys_mod_count": FieldDef("version", Kind.mod_count, writable=False),
    },
    display_attr="full_name",
    key_attr="username",
)
SYS_USER_GROUP = _table(
    "sys_user_group",
    "group",
    {
        "sys_id": FieldDef("id", Kind.sys_id, writable=False),
        "name": FieldDef("name"),
        "description": FieldDef("description"),
        "email": FieldDef("email"),
        "manager": FieldDef("manager", Kind.reference, "sys_user"),
        "active": FieldDef("active", Kind.boolean),
        "sys_created_on": FieldDef("created_at", Kind.datetime, writable=False),
        "sys_mod_count": FieldDef("version", Kind.mod_count, writable=False),
    },
    display_attr="name",
    key_attr="name",
)
SYS_JOURNAL_FIELD = _table(
    "sys_journal_field",
    "comment",
    {
        "sys_id": FieldDef("id", Kind.sys_id, writable=False),
        "element": FieldDef("visibility"),
        "element_id": FieldDef("record_id", Kind.element_id),
        "name": FieldDef("record_type", Kind.table_name),
        "value": FieldDef("body"),
        "sys_created_by": FieldDef("author", Kind.reference, "sys_user", writable=False),
        "sys_created_on": FieldDef("created_at", Kind.datetime, writable=False),
    },
    display_attr="body",
    key_attr="id",
)

TABLES = MappingProxyType(
    {
        t.name: t
        for t in (
            INCIDENT,
            PROBLEM,
            CHANGE_REQUEST,
            SC_REQUEST,
            SC_REQ_ITEM,
            KB_KNOWLEDGE,
            CMDB_CI,
            SYS_USER,
            SYS_USER_GROUP,
            SYS_JOURNAL_FIELD,
        )
    }
)
# The table a record type's references and journal entries name (service requests: the request).
TABLE_OF_RECORD_TYPE = MappingProxyType({t.record_type: t.name for t in reversed(list(TABLES.values()))})
# sys_journal_field.element <-> our comment visibility.
JOURNAL_ELEMENTS = MappingProxyType({"comments": "public", "work_notes": "internal"})


# sysparm_view: the fields a UI view shows. "desktop" (and "both", desktop and mobile together) is the whole
# form, so every field; "mobile" the compact card a phone lists. sysparm_fields, when given, wins.
_TASK_MOBILE = (
    "sys_id",
    "number",
    "short_description",
    "state",
    "priority",
    "assigned_to",
    "assignment_group",
    "sys_updated_on",
)
MOBILE_FIELDS = MappingProxyType(
    {
        "incident": (*_TASK_MOBILE, "caller_id"),
        "problem": _TASK_MOBILE,
        "change_request": (*_TASK_MOBILE, "type", "start_date"),
        "sc_request": (*_TASK_MOBILE, "requested_for"),
        "sc_req_item": (*_TASK_MOBILE, "requested_for", "quantity"),
        "kb_knowledge": ("sys_id", "number", "short_description", "workflow_state", "sys_updated_on"),
        "cmdb_ci": ("sys_id", "asset_tag", "name", "sys_class_name", "install_status"),
        "sys_user": ("sys_id", "user_name", "name", "email", "active"),
        "sys_user_group": ("sys_id", "name", "manager", "active"),
        "sys_journal_field": ("sys_id", "element", "element_id", "value", "sys_created_on"),
    }
)
VIEWS = frozenset({"", "desktop", "both", "mobile"})


def view_fields(table: str, view: str) -> tuple[str, ...] | None:
    """The fields of a UI view of a table (None: every field); KeyError for a view we do not know."""
    if view not in VIEWS:
        raise KeyError(view)
    return MOBILE_FIELDS[table] if view == "mobile" else None
