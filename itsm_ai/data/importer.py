"""Bulk import of tickets from CSV files (generic column mapping, or a ServiceNow incident event log).

How a file becomes records:

- Reading: the bytes are decoded as UTF-8 (a BOM is dropped); a file that is not valid UTF-8 is decoded as
  cp1252, and failing that as latin-1, for the whole file. NULs and other control characters (except tab and
  newline) are removed from values, newlines are normalised to "\\n", and UTF-8 text that was once mis-decoded
  as cp1252 ("donâ€™t") is repaired when the repair round-trips exactly. `.gz` files are read transparently.
  The delimiter (`,` `;` tab or `|`) is taken from the header line. Line numbers are those of the file (a
  quoted value spanning lines counts its lines); a row is reported at the line it starts on.
- Mapping: `mapping` maps a field of the record type's Create schema (or `extra.<key>`, or an import-only
  field: `resolved_at`, `closed_at`, and for incidents `reopen_count`, `reassignment_count`) to a column;
  `constants` gives every row a value (it wins over a mapped column). Empty cells are "not given", so schema
  defaults apply. Impact and urgency accept "2 - Medium"; incident states accept ServiceNow's names ("Awaiting
  User Info" -> on_hold with on_hold_reason awaiting_caller); times accept ISO 8601 and dd-mm-yyyy HH:MM (day
  first); times without a zone are UTC. A column named like a field (`short_description`, `extra.<key>`; any
  case) maps itself unless `mapping` or `constants` set that field or `mapping` reads that column. The
  columns that no field is taken from are listed in the report (`unmapped_columns`; the CLI warns about
  them): their values are not imported.
- Quoting: a quote that is never closed (which would swallow the rows after it), a quote closed in the
  middle of a value, and a header naming a column twice stop the import with the line number (or the
  column), before anything is written.
- Short descriptions: one longer than the column (255 characters) is cut at a word boundary and marked with
  "…"; the full text goes to `description` when the row has none, else to `extra.full_short_description`, so
  nothing is lost. An empty short description is taken from the first line of the description. Both are
  counted in the report's notes.
- Identity: `correlation_id` holds the source's id (`mapping["correlation_id"]`, `id_column`, or the
  ServiceNow `number`). A file without one gets a stable content hash per row (`row-<hash>`, `-2`, `-3`, ...
  for repeated identical rows), so importing the same file again creates nothing new: rows whose
  correlation_id is already stored are skipped and counted as skipped.
- Validation: every row goes through the API's Create schema (e.g. `IncidentCreate`, extended by the
  import-only fields), so what the API refuses is refused here, reported with the row's line number and the
  field. References to people and groups are created when missing (password-less requesters; assignees become
  agents); references to records (problem, duplicate_of, catalog_item, configuration_items) must exist.
- Writing: only when no row is bad (or with `skip_bad`, only the good rows), in one transaction: nothing is
  half-written, and nothing stored is changed. Records are inserted in batches with one executemany (SQLite)
  or COPY (PostgreSQL) per batch, numbers are allocated once per batch, and each record gets one audit event
  (action "import", source "import") plus, for a ServiceNow log, one event per tracked change in its history.
- Imports carry the source's lifecycle as it is: states are not checked against the transition table (a closed
  ticket from another tool may lack our resolution fields), priority is derived from impact x urgency as on
  every create, and a resolved or closed row without its time gets the import time.

This module runs the steps; they live in `import_source` (reading), `import_mapping` (types, schemas,
mapping checks), `import_rows` (rows to validated records), `import_refs` (references, what is stored),
`import_writer` (ids, numbers, bulk inserts) and `import_report` (the report and its errors).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from itsm_ai.data.import_mapping import (
    check_columns,
    check_fields,
    detect_format,
    self_mapped,
    ticket_spec,
    unmapped_columns,
)
from itsm_ai.data.import_refs import GROUP_REFS, USER_REF_ROLES, check_refs, stored_values
from itsm_ai.data.import_report import ImportFileError, ImportReport, ProgressFn
from itsm_ai.data.import_rows import (
    Candidate,
    Preparer,
    generic_candidates,
    servicenow_candidates,
    validate_candidates,
)
from itsm_ai.data.import_source import read_table
from itsm_ai.data.import_writer import BATCH_SIZE, bulk_settings, create_people, write_records
from itsm_ai.records.spec import RecordSpec
from itsm_ai.reports.flows import refresh as refresh_report_facts


def import_csv(
    *,
    path: str | Path,
    record_type: str = "incident",
    mapping: dict[str, str] | None = None,
    constants: dict[str, Any] | None = None,
    id_column: str | None = None,
    source_format: str = "auto",
    encoding: str = "auto",
    skip_bad: bool = False,
    dry_run: bool = False,
    db_session: Session | None = None,
    db_session_factory: Callable[[], AbstractContextManager[Session]] | None = None,
    progress: ProgressFn | None = None,
    actor=None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import a CSV file as tickets; bad rows are reported with line numbers and then nothing is written.

    With `db_session` the caller owns the transaction (and must roll it back if this raises); otherwise a
    session from `db_session_factory` (default `get_session`) is opened and committed here.
    """
    started = time.perf_counter()
    spec = ticket_spec(record_type)
    mapping = dict(mapping or {})
    constants = dict(constants or {})
    if id_column:
        mapping["correlation_id"] = id_column
    check_fields(spec.record_type, mapping, "map")
    check_fields(spec.record_type, constants, "set")
    if source_format not in ("auto", "generic", "servicenow"):
        raise ImportFileError(
            f"format: must be auto, generic or servicenow, not {source_format!r}", field="format"
        )
    table = read_table(path, encoding=encoding)
    fmt = detect_format(table.columns) if source_format == "auto" else source_format
    if fmt == "servicenow" and spec.record_type != "incident":
        raise ImportFileError(
            "format: a ServiceNow incident log can only be imported as incidents", field="type"
        )
    check_columns(table, mapping)
    report = ImportReport(
        path=str(path),
        record_type=spec.record_type,
        source_format=fmt,
        encoding=table.encoding,
        dry_run=dry_run,
    )
    report.rows = len(table.rows)
    if progress is not None:
        progress("read", 0, report.rows)
    if fmt == "servicenow":
        try:
            candidates = servicenow_candidates(table, mapping, constants, report)
        except ValueError as exc:
            raise ImportFileError(f"format: {exc}", field="format") from exc
    else:
        report.self_mapped = self_mapped(spec.record_type, table.columns, mapping, constants)
        mapping.update(report.self_mapped)
        report.unmapped_columns = unmapped_columns(table.columns, mapping)
        if "short_description" not in mapping and "short_description" not in constants:
            if spec.record_type != "service_request":
                raise ImportFileError(
                    "map: short_description is required: give --map short_description=COLUMN "
                    f"(columns: {', '.join(repr(c) for c in table.columns)})",
                    field="short_description",
                )
        candidates = generic_candidates(table, mapping, constants, report, progress)
    if progress is not None:
        progress("read", report.rows, report.rows)
    prepare = Preparer([*mapping, *constants], spec.record_type, report)
    for candidate in candidates:
        prepare(candidate.data, candidate.line)
    report.records = len(candidates)
    candidates, models = validate_candidates(candidates, spec.record_type, report, progress)

    factory = db_session_factory
    if db_session is None and factory is None:
        from itsm_ai.database import get_session

        factory = get_session
    if db_session is not None:
        _run(db_session, spec, candidates, models, report, skip_bad, dry_run, actor, batch_size, progress)
    else:
        assert factory is not None
        with factory() as session:
            _run(session, spec, candidates, models, report, skip_bad, dry_run, actor, batch_size, progress)
    report.bad.sort(key=lambda p: (p.line, p.field))
    report.bad_rows = len({p.line for p in report.bad})
    report.seconds = time.perf_counter() - started
    return report


def _run(
    db_session: Session,
    spec: RecordSpec,
    candidates: list[Candidate],
    models: list[BaseModel],
    report: ImportReport,
    skip_bad: bool,
    dry_run: bool,
    actor,
    batch_size: int,
    progress: ProgressFn | None,
) -> None:
    candidates, models, refs = check_refs(db_session, spec, candidates, models, report)
    # Skip what is already stored, and repeats of an id inside the file (the first occurrence wins).
    stored = stored_values(db_session, spec.model.correlation_id, (c.correlation_id for c in candidates))
    seen: dict[str, int] = {}
    keep_c: list[Candidate] = []
    keep_m: list[BaseModel] = []
    for candidate, model in zip(candidates, models, strict=True):
        cid = candidate.correlation_id
        if cid in stored:
            report.skipped += 1
        elif cid in seen:
            report.skipped += 1
            report.note(
                f"repeated correlation_id in the file (first at line {seen[cid]}): skipped", candidate.line
            )
        else:
            seen[cid] = candidate.line
            keep_c.append(candidate)
            keep_m.append(model)
    if report.bad and not skip_bad:
        return
    if dry_run or not keep_m:
        report.imported = len(keep_m) if dry_run else 0
        report.users_created = len(refs.new_users)
        report.groups_created = len(refs.new_groups)
        return
    # Only users and groups that a kept row refers to.
    used_users = {v for m in keep_m for name in USER_REF_ROLES if (v := m.__dict__.get(name))}
    used_groups = {v for m in keep_m for name in GROUP_REFS if (v := m.__dict__.get(name))}
    refs.new_users = {k: r for k, r in refs.new_users.items() if k in used_users}
    refs.new_groups = {g: None for g in refs.new_groups if g in used_groups}
    with bulk_settings(db_session):
        create_people(db_session, refs, report)
        ids = write_records(db_session, spec, keep_c, keep_m, refs, report, actor, batch_size, progress)
        # A bulk insert publishes no events: the report facts of the new tickets are written here.
        refresh_report_facts(db_session=db_session, record_type=spec.record_type, ids=ids)
    db_session.flush()
    report.written = True
