"""Reading a page of records as plain rows: the list endpoints' fast path.

Loading ORM objects for a page (identity map, joined and selectin eager loads of every relationship, then
`serialize` walking attributes) cost most of a list request's time at scale. This reads only the columns the
read schema shows, references with one look-up per referenced table and links with one query per link for
the whole page, and builds the same dicts `service.serialize` builds from objects.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.records.spec import Link, RecordSpec

VALUE, LABEL, LINK, REF = range(4)


@dataclass(frozen=True)
class RowReader:
    """How one record type's read representation is made from a row: the columns to select and, per shown
    field in schema order, how its value is made from the row mapping."""

    spec: RecordSpec
    columns: tuple[Any, ...]
    # (name, how, position in the row, extra): how is VALUE, LABEL (extra: the labels), LINK (the link's
    # values) or REF (the row holds the foreign key; extra: the referenced model and its readable key).
    fields: tuple[tuple[str, int, int, Any], ...]
    links: tuple[tuple[str, Link], ...]

    def read(self, *, db_session: Session, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The records with these ids as serialize() shows them, in the order of `ids`."""
        if not ids:
            return []
        model = self.spec.model
        rows = {r[0]: r for r in db_session.execute(select(*self.columns).where(model.id.in_(ids)))}
        linked = {
            name: link.shown_for(db_session=db_session, spec=self.spec, ids=list(ids))
            for name, link in self.links
        }
        # References by one small look-up per referenced table (users once for assignee and caller): a join
        # per reference made PostgreSQL hash whole tables (every user) for a page of 50.
        wanted: dict[tuple, set[int]] = {}
        for _, how, position, target_key in self.fields:
            if how == REF:
                wanted.setdefault(target_key, set()).update(
                    r[position] for r in rows.values() if r[position] is not None
                )
        keys: dict[tuple, dict[int, Any]] = {}
        for (target, key), fks in wanted.items():
            stmt = select(target.id, getattr(target, key)).where(target.id.in_(sorted(fks)))
            keys[(target, key)] = {r[0]: r[1] for r in db_session.execute(stmt)} if fks else {}
        out = []
        for record_id in ids:
            row = rows.get(record_id)
            if row is None:
                continue  # deleted between the two reads: the page is one shorter, as a later read would be
            item: dict[str, Any] = {}
            for name, how, position, extra in self.fields:
                if how == VALUE:
                    item[name] = row[position]
                elif how == LABEL:
                    value = row[position]
                    item[name] = extra.get(value, str(value))
                elif how == REF:
                    fk = row[position]
                    item[name] = None if fk is None else keys[extra].get(fk)
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
    shown: list[tuple[str, int, str, Any]] = []
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
            if ref.fk not in attrs:
                return None
            columns[ref.fk] = getattr(model, ref.fk).label(ref.fk)
            shown.append((name, REF, ref.fk, (ref.target, ref.key)))
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
        fields=tuple((name, how, positions[key], extra) for name, how, key, extra in shown),
        links=tuple(links),
    )
