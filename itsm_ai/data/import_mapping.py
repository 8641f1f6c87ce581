"""What an import maps to: the importable ticket types, their import schemas and fields, and the checks of a
mapping against the schema and the file's columns (see `itsm_ai.data.importer`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, create_model

from itsm_ai.data.import_report import ImportFileError
from itsm_ai.data.import_source import SourceTable
from itsm_ai.records.spec import RecordSpec

IMPORT_ONLY_FIELDS: dict[str, tuple[Any, Any]] = {
    "resolved_at": (datetime | None, Field(default=None)),
    "closed_at": (datetime | None, Field(default=None)),
}
INCIDENT_IMPORT_ONLY_FIELDS: dict[str, tuple[Any, Any]] = {
    "reopen_count": (int, Field(default=0, ge=0)),
    "reassignment_count": (int, Field(default=0, ge=0)),
}


def ticket_spec(record_type: str) -> RecordSpec:
    """The spec of an importable ticket type (incident, problem, change, service_request or its API path)."""
    from itsm_ai.ticket.service import TICKET_SPECS

    specs = dict(TICKET_SPECS)
    for spec in TICKET_SPECS.values():
        specs.setdefault(spec.path, spec)
    key = record_type.strip().lower().replace("-", "_")
    if key not in specs:
        names = ", ".join(TICKET_SPECS)
        raise ImportFileError(f"type: cannot import {record_type!r}; one of {names}", field="type")
    return specs[key]


@lru_cache
def import_schema(record_type: str) -> type[BaseModel]:
    """The record type's Create schema plus the import-only fields (resolved_at, closed_at, counts)."""
    spec = ticket_spec(record_type)
    extra = dict(IMPORT_ONLY_FIELDS)
    if spec.record_type == "incident":
        extra.update(INCIDENT_IMPORT_ONLY_FIELDS)
    return create_model(f"{spec.create_schema.__name__}Import", __base__=spec.create_schema, **extra)


@lru_cache
def list_adapter(record_type: str) -> TypeAdapter:
    """A validator of a list of rows against the record type's import schema."""
    return TypeAdapter(list[import_schema(record_type)])


def importable_fields(record_type: str) -> list[str]:
    """Field names accepted in a mapping or constant (plus extra.<key>)."""
    return list(import_schema(record_type).model_fields)


def check_fields(record_type: str, names: Iterable[str], option: str) -> None:
    """Raise ImportFileError naming the first field the record type does not have."""
    known = set(importable_fields(record_type))
    for name in names:
        if name.startswith("extra.") and len(name) > len("extra."):
            continue
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ImportFileError(
                f"{option}: unknown field {name!r} for {record_type}{hint}; fields: "
                f"{', '.join(sorted(known))}, extra.<key>",
                field=name,
            )


def detect_format(columns: Sequence[str]) -> str:
    """ "servicenow" for a ServiceNow incident event log header, else "generic"."""
    from itsm_ai.data.servicenow import looks_like_servicenow

    return "servicenow" if looks_like_servicenow(columns) else "generic"


def check_columns(table: SourceTable, mapping: dict[str, str]) -> None:
    """Raise ImportFileError naming the first mapped column the file does not have."""
    known = set(table.columns)
    for fieldname, column in mapping.items():
        if column not in known:
            import difflib

            close = difflib.get_close_matches(column, table.columns, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ImportFileError(
                f"map: {fieldname}={column}: the file has no column {column!r}{hint}; columns: "
                + ", ".join(repr(c) for c in table.columns),
                field=column,
            )


def self_mapped(
    record_type: str, columns: Sequence[str], mapping: dict[str, str], constants: dict[str, Any]
) -> dict[str, str]:
    """Fields taken from a column of the same name (short_description, extra.<key>) that nothing else uses."""
    known = {name.lower(): name for name in importable_fields(record_type)}
    given = {*mapping, *constants}
    read = set(mapping.values())
    out: dict[str, str] = {}
    for column in columns:
        if column in read:
            continue
        key = column.lower()
        if key.startswith("extra.") and len(key) > len("extra."):
            fieldname = "extra." + column[len("extra.") :]
        else:
            fieldname = known.get(key, "")
        if fieldname and fieldname not in given and fieldname not in out:
            out[fieldname] = column
    return out


def unmapped_columns(columns: Sequence[str], mapping: dict[str, str]) -> list[str]:
    """The named columns that no field is taken from (their values are not imported)."""
    used = set(mapping.values())
    return [c for c in columns if c and c not in used]
