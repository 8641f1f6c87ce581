"""Reading a page of records as plain rows: the list endpoints' fast path.

Loading ORM objects for a page (identity map, joined and selectin eager loads of every relationship, then
`serialize` walking attributes) cost most of a list request's time at scale. This reads only the columns the
read schema shows, references by one LEFT JOIN each to their readable key, links with one query per link for
the whole page, and builds the same dicts `service.serialize` builds from objects.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from itsm_ai.records.spec import Link, RecordSpec

VALUE, LABEL, LINK = range(3)


@dataclass(frozen=True)
class RowReader:
    """How one record type's read representation is made from a row: the columns to select and, per shown
    field in schema order, how its value is made from the row mapping."""

    spec: RecordSpec
    columns: tuple[Any, ...]
    joins: tuple[tuple[Any, Any], ...]
    # (name, how, position in the row, labels): how is VALUE, LABEL (labels[value]) or LINK (links' values).
    fields: tuple[tuple[str, int, int, Mapping[int, str] | None], ...]
    links: tuple[tuple[str, Link], ...]

    def read(self, *, db_session: Session, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The records with these ids as serialize() shows them, in the order of `ids`."""
        if not ids:
            return []
        model = self.spec.model
        stmt = select(*self.columns).select_from(model)
        for target, on in self.joins:
            stmt = stmt.outerjoin(target, on)
        rows = {r[0]: r for r in db_session.execute(stmt.where(model.id.in_(ids)))}
        linked = {
            name: link.shown_for(db_session=db_session, spec=self.spec, ids=list(ids))
            for name, link in self.links
        }
        out = []
        for record_id in ids:
            row = rows.get(record_id)
            if row is None:
                continue  # deleted between the two reads: the page is one shorter, as a later read would be
            item: dict[str, Any] = {}
            for name, how, position, labels in self.fields:
                if how == VALUE:
                    item[name] = row[position]
                elif how == LABEL:
                    value = row[position]
                    item[name] = labels.get(value, str(value))
                else:
                    item[name] = linked[name][record_id]
            out.append(item)
        return out


_readers: dict[int, tuple[RecordSpec, RowReader | None]] = {}
_lock = threading.Lock()


def reader_for(spec: RecordSpec) -> RowReader | None:
    """The row reader of a record type, or None when its read representation needs the ORM object (a
    `read_extra` hook, a link without `shown_for`, a shown attribute that is not a column)."""
    with _lock:
        hit = _readers.get(id(spec))
        if hit is None or hit[0] is not spec:
            hit = (spec, _build(spec))
            _readers[id(spec)] = hit
        return hit[1]


def _build(spec: RecordSpec) -> RowReader | None:
    if spec.read_extra is not None:
        return None
    model = spec.model
    attrs = sa_inspect(model).column_attrs
    columns: dict[str, Any] = {"id": model.id.label("id")}  # the id first: rows are keyed by it
    joins = []
    shown: list[tuple[str, int, str, Mapping[int, str] | None]] = []
    links = []
    for name in spec.read_schema.model_fields:
        if name.endswith("_label"):
            base = name.removesuffix("_label")
            if base not in attrs:
                return None
            columns[base] = getattr(model, base).label(base)
            shown.append((name, LABEL, base, spec.labels[base]))
        elif name in spec.refs:
            ref = spec.refs[name]
            target = aliased(ref.target, name=f"ref_{name}")
            joins.append((target, target.id == getattr(model, ref.fk)))
            key = f"ref__{name}"
            columns[key] = getattr(target, ref.key).label(key)
            shown.append((name, VALUE, key, None))
        elif name in spec.links:
            link = spec.links[name]
            if type(link).shown_for is Link.shown_for:
                return None
            links.append((name, link))
            shown.append((name, LINK, "id", None))
        elif name in attrs:
            columns[name] = getattr(model, name).label(name)
            shown.append((name, VALUE, name, None))
        elif hasattr(model, name):
            return None  # a property or relationship: only the object knows it
    positions = {key: i for i, key in enumerate(columns)}
    return RowReader(
        spec=spec,
        columns=tuple(columns.values()),
        joins=tuple(joins),
        fields=tuple((name, how, positions[key], labels) for name, how, key, labels in shown),
        links=tuple(links),
    )
