"""Records in ServiceNow's Table API JSON: values, display values and reference links."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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


def _plain(b: Binding, name: str, fd: FieldDef, obj: Any) -> tuple[str, str]:
    """(value, display value) of a non-reference field."""
    if fd.kind == Kind.sys_id:
        value = codes.encode_sys_id(b.table.record_type, obj.id)
        return value, value
    if fd.kind in (Kind.journal, Kind.secret):
        return "", ""
    raw = getattr(obj, fd.attr, None)
    if fd.kind == Kind.state:
        return b.table.state_code(raw), b.table.state_label(raw)
    if fd.kind == Kind.priority:
        if raw is None:
            return "", ""
        code = codes.PRIORITY_TO_SN[raw]
        return str(code), codes.PRIORITY_LABELS[code]
    if fd.kind == Kind.active:
        active = "true" if raw not in b.table.final_states else "false"
        return active, active
    if fd.kind == Kind.mod_count:
        return str((raw or 1) - 1), str((raw or 1) - 1)
    if fd.kind == Kind.element_id:
        value = codes.encode_sys_id(obj.record_type, obj.record_id)
        return value, value
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


def _shown(value: str, display: str, shape: Shape, link: str | None) -> Any:
    if shape.display == "all":
        out: dict[str, Any] = {"display_value": display, "value": value}
    elif shape.display == "true":
        out = {"display_value": display}
    else:
        out = {"value": value}
    if link and not shape.exclude_link:
        out["link"] = link
    if len(out) == 1:
        return next(iter(out.values()))
    return out


def _getter(b: Binding, name: str, fd: FieldDef) -> Callable[[Any], tuple[str, str, str | None]]:
    """A function giving one field's (value, display value, referenced table or None) for a record; built
    once per table and field, since a page of 10,000 rows reads each field 10,000 times."""
    attr = fd.attr
    if fd.kind == Kind.reference:
        rel, table = b.refs[attr].rel, codes.TABLES[fd.target]
        tag_type, display_attr, key_attr, target_name = (
            table.record_type,
            table.display_attr,
            table.key_attr,
            fd.target,
        )

        def reference(obj: Any) -> tuple[str, str, str | None]:
            target = getattr(obj, rel)
            if target is None:
                return "", "", None
            display = getattr(target, display_attr, None) or getattr(target, key_attr)
            return codes.encode_sys_id(tag_type, target.id), str(display), target_name

        return reference
    if fd.kind == Kind.text and name not in _LEVEL_FIELDS and name != "element":

        def text(obj: Any) -> tuple[str, str, None]:
            raw = getattr(obj, attr)
            shown = "" if raw is None else (raw.value if hasattr(raw, "value") else str(raw))
            return shown, shown, None

        return text
    if fd.kind == Kind.datetime:

        def when(obj: Any) -> tuple[str, str, None]:
            shown = codes.format_datetime(getattr(obj, attr))
            return shown, shown, None

        return when

    def other(obj: Any) -> tuple[str, str, None]:
        value, display = _plain(b, name, fd, obj)
        return value, display, None

    return other


_PLANS: dict[tuple[str, tuple[str, ...] | None], list[tuple[str, Callable]]] = {}


def _plan(b: Binding, fields: list[str] | None) -> list[tuple[str, Callable]]:
    key = (b.table.name, tuple(fields) if fields else None)
    plan = _PLANS.get(key)
    if plan is None:
        names = fields or list(b.table.fields)
        plan = [(n, _getter(b, n, b.table.fields[n])) for n in names if n in b.table.fields]
        if len(_PLANS) < 4096:  # sysparm_fields come from clients: bound what is kept
            _PLANS[key] = plan
    return plan


def to_json(b: Binding, obj: Any, shape: Shape, fields: list[str] | None = None) -> dict[str, Any]:
    """One record in ServiceNow's Table API JSON."""
    out: dict[str, Any] = {}
    display, with_links = shape.display, not shape.exclude_link
    for name, get in _plan(b, fields):
        value, shown, target = get(obj)
        link = shape.link(target, value) if target is not None and with_links else None
        if display == "false" and link is None:
            out[name] = value
        elif display == "true" and link is None:
            out[name] = shown
        else:
            out[name] = _shown(value, shown, shape, link)
    return out


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
