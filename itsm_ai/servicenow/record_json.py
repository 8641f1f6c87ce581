"""Records in ServiceNow's Table API JSON: values, display values and reference links, read as plain rows.

Loading ORM objects (identity map, eager loads of every relationship) cost most of a Table API read, as it
did for the native lists (`records/rows.py`). A page reads the shown columns of its rows in one query and
each referenced table once (users once for caller and assignee); the JSON is built from the rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.comment.models import Visibility
from itsm_ai.servicenow import codes
from itsm_ai.servicenow.codes import FieldDef, Kind
from itsm_ai.servicenow.tables import Binding

# Fields of the task tables whose display value is a level label.
_LEVEL_FIELDS = frozenset({"impact", "urgency"})


@dataclass(frozen=True)
class Shape:
    """How records are shown: sysparm_display_value, sysparm_exclude_reference_link and the base URL."""

    display: str = "false"  # "false" | "true" | "all"
    exclude_link: bool = False
    base_url: str = ""

    def link(self, table: str, sys_id: str) -> str:
        """The Table API address of a record."""
        return f"{self.base_url}/api/now/table/{table}/{sys_id}"


def text_pair(b: Binding, name: str, fd: FieldDef, raw: Any) -> tuple[str, str]:
    """(value, display value) of a stored non-reference value of the field `name`."""
    if fd.kind in (Kind.journal, Kind.secret):
        return "", ""
    if fd.kind == Kind.state:
        return b.table.state_code(raw), b.table.state_label(raw)
    if fd.kind == Kind.priority:
        if raw is None:
            return "", ""
        code = codes.PRIORITY_TO_SN.get(raw, raw)
        return str(code), codes.PRIORITY_LABELS.get(code, str(code))
    if fd.kind == Kind.active:
        active = "true" if raw not in b.table.final_states else "false"
        return active, active
    if fd.kind == Kind.mod_count:
        return str((raw or 1) - 1), str((raw or 1) - 1)
    if fd.kind == Kind.table_name:
        table = codes.TABLE_OF_RECORD_TYPE.get(raw, raw)
        return table, table
    if fd.kind == Kind.datetime:
        text = codes.format_datetime(raw)
        return text, text
    if fd.kind == Kind.boolean:
        text = "" if raw is None else ("true" if raw else "false")
        return text, text
    if raw is None:
        return "", ""
    if name == "element":
        element = "work_notes" if raw == Visibility.internal else "comments"
        return element, element
    if name in _LEVEL_FIELDS:
        return str(raw), codes.LEVEL_LABELS.get(raw, str(raw))
    text = raw.value if hasattr(raw, "value") else str(raw)
    return text, text


# One field's JSON from a row and the page's referenced records (table name -> id -> shown reference).
Emitter = Callable[[Sequence[Any], dict[str, dict[int, Any]]], Any]
# One field's (value, display value) from a row.
Pair = Callable[[Sequence[Any]], tuple[str, str]]


@dataclass(frozen=True)
class Target:
    """A referenced table of a page: where the page's rows hold its ids, and the model holding its records."""

    table: str
    model: type
    positions: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """How the JSON of one table's records (one sysparm_fields, one display mode) is made from a row."""

    columns: tuple[Any, ...]  # the id first
    emitters: tuple[tuple[str, Emitter], ...]
    targets: tuple[Target, ...]


class _Columns:
    """The columns a plan selects, each once, with its position in the row."""

    def __init__(self, b: Binding) -> None:
        self.model = b.model
        self.names: dict[str, int] = {"id": 0}

    def at(self, attr: str) -> int:
        """The row position of an attribute's column, added on first use."""
        return self.names.setdefault(attr, len(self.names))

    def selected(self) -> tuple[Any, ...]:
        """The columns to select, in row order."""
        return tuple(getattr(self.model, attr) for attr in self.names)


def _pair(b: Binding, name: str, fd: FieldDef, cols: _Columns) -> tuple[Pair, bool]:
    """(value, display value) of a non-reference field from a row, and whether the two are always equal."""
    if fd.kind == Kind.sys_id:
        record_type = b.table.record_type

        def sys_id(row):
            value = codes.encode_sys_id(record_type, row[0])
            return value, value

        return sys_id, True
    if fd.kind == Kind.element_id:
        type_at, id_at = cols.at("record_type"), cols.at("record_id")

        def element_id(row):
            value = codes.encode_sys_id(row[type_at], row[id_at])
            return value, value

        return element_id, True
    if fd.kind in (Kind.journal, Kind.secret):
        return (lambda _row: ("", "")), True
    at = cols.at(fd.attr)
    if fd.kind == Kind.text and name not in _LEVEL_FIELDS and name != "element":

        def text(row):
            raw = row[at]
            shown = "" if raw is None else (raw.value if hasattr(raw, "value") else str(raw))
            return shown, shown

        return text, True
    if fd.kind == Kind.datetime:

        def when(row):
            shown = codes.format_datetime(row[at])
            return shown, shown

        return when, True
    same = fd.kind not in (Kind.state, Kind.priority) and name not in _LEVEL_FIELDS
    return (lambda row: text_pair(b, name, fd, row[at])), same


def _emitter(b: Binding, name: str, fd: FieldDef, display: str, cols: _Columns, refs: dict) -> Emitter:
    """One field's emitter for a display mode, built once per table, field list and mode (a page of 10,000
    rows calls it 10,000 times); a reference adds its row position to `refs` under its table."""
    if fd.kind == Kind.reference:
        at, target = cols.at(b.refs[fd.attr].fk), fd.target
        refs.setdefault(target, (b.refs[fd.attr].target, []))[1].append(at)
        empty = {"display_value": "", "value": ""} if display == "all" else ""

        def reference(row, looked_up):
            fk = row[at]
            return empty if fk is None else looked_up[target].get(fk, empty)

        return reference
    if display != "all" and fd.kind in (Kind.text, Kind.datetime) and name not in _LEVEL_FIELDS | {"element"}:
        # The commonest fields, value and display alike: straight from the row, without the pair.
        at = cols.at(fd.attr)
        if fd.kind == Kind.datetime:
            return lambda row, _looked_up: codes.format_datetime(row[at])

        def text(row, _looked_up):
            raw = row[at]
            return "" if raw is None else (raw.value if hasattr(raw, "value") else str(raw))

        return text
    pair, same = _pair(b, name, fd, cols)
    if display == "all":

        def both(row, _looked_up):
            value, shown = pair(row)
            return {"display_value": shown, "value": value}

        return both
    index = 0 if display == "false" or same else 1
    return lambda row, _looked_up: pair(row)[index]


_PLANS: dict[tuple[str, tuple[str, ...] | None, str], Plan] = {}
_PLANS_LOCK = threading.Lock()


def plan(b: Binding, fields: Sequence[str] | None, display: str = "false") -> Plan:
    """The plan of a table, a sysparm_fields list (None: every field) and a display mode, cached."""
    key = (b.table.name, tuple(fields) if fields else None, display)
    found = _PLANS.get(key)
    if found is not None:
        return found
    cols, refs = _Columns(b), {}
    names = fields or list(b.table.fields)
    emitters = tuple(
        (name, _emitter(b, name, b.table.fields[name], display, cols, refs))
        for name in names
        if name in b.table.fields
    )
    targets = tuple(Target(table, model, tuple(at)) for table, (model, at) in refs.items())
    made = Plan(cols.selected(), emitters, targets)
    with _PLANS_LOCK:
        if len(_PLANS) < 4096:  # sysparm_fields come from clients: bound what is kept
            _PLANS[key] = made
    return made


def _reference_json(table: str, sys_id: str, shown: str, shape: Shape) -> Any:
    """A reference as sysparm_display_value and sysparm_exclude_reference_link show it."""
    link = None if shape.exclude_link else shape.link(table, sys_id)
    if shape.display == "all":
        out: dict[str, str] = {"display_value": shown, "value": sys_id}
    elif shape.display == "true":
        out = {"display_value": shown}
    else:
        out = {"value": sys_id}
    if link is None:
        return next(iter(out.values())) if len(out) == 1 else out
    out["link"] = link
    return out


def _looked_up(db_session: Session, p: Plan, rows: Sequence[Sequence[Any]], shape: Shape) -> dict:
    """Every record the rows refer to as its reference JSON, one query per referenced table."""
    out: dict[str, dict[int, Any]] = {}
    for target in p.targets:
        ids = {row[at] for row in rows for at in target.positions if row[at] is not None}
        table = codes.TABLES[target.table]
        found: dict[int, Any] = {}
        if ids:
            model = target.model
            display, key = getattr(model, table.display_attr), getattr(model, table.key_attr)
            for record_id, shown, keyed in db_session.execute(
                select(model.id, display, key).where(model.id.in_(sorted(ids)))
            ):
                sys_id = codes.encode_sys_id(table.record_type, record_id)
                found[record_id] = _reference_json(target.table, sys_id, str(shown or keyed), shape)
        out[target.table] = found
    return out


def records(
    *, db_session: Session, b: Binding, ids: Sequence[int], shape: Shape, fields: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The records with these ids in ServiceNow's Table API JSON, in the order of `ids` (a record deleted
    since the ids were read is left out)."""
    if not ids:
        return []
    p = plan(b, fields, shape.display)
    by_id = {row[0]: row for row in db_session.execute(select(*p.columns).where(b.model.id.in_(ids)))}
    rows = [by_id[i] for i in ids if i in by_id]
    looked_up = _looked_up(db_session, p, rows, shape)
    emitters = p.emitters
    return [{name: emit(row, looked_up) for name, emit in emitters} for row in rows]


def value_text(b: Binding, fd: FieldDef, raw: Any) -> str:
    """A grouped or aggregated column value in ServiceNow's text."""
    if raw is None:
        return ""
    if fd.kind == Kind.state:
        return b.table.state_code(raw)
    if fd.kind == Kind.reference:
        return codes.encode_sys_id(codes.TABLES[fd.target].record_type, raw)
    if fd.kind == Kind.priority:
        return str(codes.PRIORITY_TO_SN.get(raw, raw))
    if fd.kind == Kind.mod_count:
        return str(raw - 1)
    if fd.kind == Kind.datetime:
        return codes.format_datetime(raw)
    if fd.kind == Kind.boolean:
        return "true" if raw else "false"
    if isinstance(raw, Decimal):
        raw = float(raw)
    if isinstance(raw, float):
        return f"{raw:.4f}".rstrip("0").rstrip(".") if raw != int(raw) else str(int(raw))
    return raw.value if hasattr(raw, "value") else str(raw)
