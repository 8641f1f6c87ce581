"""Export records as pandas DataFrames, CSV or Parquet."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.errors import InvalidInputError
from itsm_ai.records.service import serialize
from itsm_ai.records.spec import RecordSpec

EXPORT_BATCH = 2000


def exportable_specs() -> dict[str, RecordSpec]:
    """Record types that can be exported, by type name and by API path."""
    from itsm_ai.asset.service import ASSET
    from itsm_ai.catalog.service import CATALOG_ITEM
    from itsm_ai.knowledge.service import ARTICLE
    from itsm_ai.ticket.service import TICKET_SPECS

    specs = dict(TICKET_SPECS)
    for spec in (ARTICLE, ASSET, CATALOG_ITEM):
        specs[spec.record_type] = spec
    for spec in list(specs.values()):
        specs.setdefault(spec.path, spec)
    return specs


def spec_for(record_type: str) -> RecordSpec:
    """The spec for a type name (incident) or path (incidents), or 422 naming `type`."""
    specs = exportable_specs()
    if record_type not in specs:
        names = sorted({s.record_type for s in specs.values()})
        raise InvalidInputError(
            f"type: unknown record type {record_type!r}; one of {', '.join(names)}", field="type"
        )
    return specs[record_type]


def iter_rows(
    *, db_session: Session, spec: RecordSpec, progress: Callable[[int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Every record of a type as its API representation, in id order, in batches."""
    last_id = 0
    while True:
        batch = list(
            db_session.scalars(
                select(spec.model).where(spec.model.id > last_id).order_by(spec.model.id).limit(EXPORT_BATCH)
            ).unique()
        )
        if not batch:
            return
        for obj in batch:
            yield serialize(spec, obj)
        last_id = batch[-1].id
        if progress is not None:
            progress(len(batch))
        db_session.expunge_all()


def to_dataframe(
    *, db_session: Session, record_type: str = "incident", progress: Callable[[int], None] | None = None
) -> pd.DataFrame:
    """All records of a type as a DataFrame (one row each, the API's columns) for data scientists."""
    spec = spec_for(record_type)
    rows = list(iter_rows(db_session=db_session, spec=spec, progress=progress))
    columns = list(spec.read_schema.model_fields)
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for column in ("configuration_items", "extra", "keywords", "source_tickets", "variables"):
        if column in frame:
            frame[column] = frame[column].map(_jsonish)
    return frame


def _jsonish(value: Any) -> Any:
    import json

    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write a frame as csv or parquet."""
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        raise InvalidInputError(f"format: must be csv or parquet, not {fmt!r}", field="format")
