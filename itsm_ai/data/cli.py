"""`itsm-ai import` and `itsm-ai export`: bulk CSV import (generic or ServiceNow) and CSV/Parquet export."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

STAGE_LABELS = {"read": "reading", "validate": "validating", "write": "writing", "export": "exporting"}


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _pairs(items: list[str] | None, option: str, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            _fail(f"{option} expects FIELD={what}, got {item!r}")
        pairs[name] = value
    return pairs


@contextmanager
def _progress_bar():
    """A rich progress bar with one task per stage, or None when stderr is not a terminal."""
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(STAGE_LABELS.get(stage, stage), total=max(total, 1))
            progress.update(tasks[stage], completed=done, total=max(total, 1))

        yield update


def import_command(
    file: Annotated[Path, typer.Argument(help="CSV file to import (.csv or .csv.gz).", show_default=False)],
    record_type: Annotated[
        str, typer.Option("--type", help="incident, problem, change or service_request.")
    ] = "incident",
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="FIELD=COLUMN: take a field from a column (repeatable).", show_default=False
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="FIELD=VALUE: give every row this value (repeatable).", show_default=False
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(help="Column with the source's own id (kept as correlation_id; re-imports skip it)."),
    ] = None,
    source_format: Annotated[
        str, typer.Option("--format", help="auto, generic or servicenow (an incident event log).")
    ] = "auto",
    encoding: Annotated[
        str, typer.Option(help="auto (UTF-8, else cp1252, else latin-1) or a codec.")
    ] = "auto",
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Import the good rows and list the bad ones (exit 0).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything, write nothing.")] = False,
) -> None:
    """Import tickets from a CSV file; bad rows are listed by line number and nothing is written (exit 2).

    Examples: `--map short_description=Document --map category=Topic_group --set state=closed`;
    a ServiceNow incident event log needs no mapping (one incident per number, with its history).
    Re-importing a file skips the rows already imported.
    """
    from itsm_ai.data.importer import import_csv
    from itsm_ai.errors import AppError

    mapping = _pairs(map_, "--map", "COLUMN")
    constants = _pairs(set_, "--set", "VALUE")
    if not file.is_file():
        _fail(f"file: {file} not found")
    from itsm_ai.migrate import upgrade

    upgrade()
    try:
        with _progress_bar() as progress:
            report = import_csv(
                path=file,
                record_type=record_type,
                mapping=mapping,
                constants=constants,
                id_column=id_column,
                source_format=source_format,
                encoding=encoding,
                skip_bad=skip_bad,
                dry_run=dry_run,
                progress=progress,
            )
    except AppError as exc:
        _fail(exc.message)
    if report.self_mapped:
        pairs = ", ".join(f"{f}={c}" for f, c in report.self_mapped.items())
        console.print(f"columns mapped by their name: {pairs}", highlight=False)
    if report.unmapped_columns:
        names = ", ".join(repr(c) for c in report.unmapped_columns)
        console.print(
            f"[yellow]warning:[/yellow] columns not imported (no field is taken from them): {names}; "
            "map one with --map FIELD=COLUMN or --map extra.KEY=COLUMN",
            highlight=False,
        )
    for problem in report.bad:
        console.print(f"[red]bad row[/red] {file.name}: {problem}", highlight=False, soft_wrap=True)
    numbers = f" ({report.first_number}..{report.last_number})" if report.first_number else ""
    out.print(f"{report.summary()}{numbers}", highlight=False)
    out.print(
        f"format {report.source_format}, encoding {report.encoding}; users created {report.users_created}, "
        f"groups created {report.groups_created}, audit events {report.audit_events}; {report.seconds:.1f} s",
        highlight=False,
    )
    for kind, count in report.notes.most_common():
        lines = ", ".join(str(n) for n in report.note_lines.get(kind, []))
        out.print(f"note: {kind}: {count} rows (e.g. lines {lines})", highlight=False)
    if report.bad and not skip_bad:
        _fail(f"{report.bad_rows} bad rows in {file.name}: nothing was written (fix them, or use --skip-bad)")


def export_command(
    record_type: Annotated[
        str, typer.Option("--type", help="incident, problem, change, service_request, knowledge_article, ...")
    ] = "incident",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    output: Annotated[
        Path | None,
        typer.Option(help="Output file (default: <type path>.<format> here).", show_default=False),
    ] = None,
) -> None:
    """Export every record of a type as Parquet or CSV (the API's columns, references by name)."""
    from itsm_ai.data import export
    from itsm_ai.database import get_session
    from itsm_ai.errors import AppError
    from itsm_ai.migrate import upgrade

    if fmt not in ("parquet", "csv"):
        _fail(f"format: must be parquet or csv, not {fmt!r}")
    try:
        spec = export.spec_for(record_type)
    except AppError as exc:
        _fail(exc.message)
    target = output or Path(f"{spec.path}.{fmt}")
    if target.parent and not target.parent.exists():
        _fail(f"output: folder {target.parent} does not exist")
    upgrade()
    with get_session() as session:
        total = export.count(db_session=session, record_type=record_type)
        with _progress_bar() as progress:
            done = 0

            def advance(n: int) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress("export", done, total)

            frame = export.to_dataframe(db_session=session, record_type=record_type, progress=advance)
    export.write(frame, target, fmt)
    out.print(f"exported {len(frame)} {spec.record_type} records to {target}", highlight=False)
