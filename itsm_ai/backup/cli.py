"""`itsm-ai backup FILE` and `itsm-ai restore FILE [--force]`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console(stderr=True, soft_wrap=True)

BACKUP_STEPS = ("database", "attachments", "models", "index", "archive")
RESTORE_STEPS = ("check", "database", "attachments", "models", "index", "migrate")


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _progress(steps: tuple[str, ...]) -> tuple[Progress, Callable[[str], None]]:
    """A rich progress bar over the named steps, and the callback the service calls at each step."""
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    )
    task = progress.add_task("starting", total=len(steps))
    seen: list[str] = []

    def step(name: str) -> None:
        if seen:
            progress.advance(task)
        seen.append(name)
        progress.update(task, description=name)

    return progress, step


def backup_command(
    file: Annotated[Path, typer.Argument(help="The archive to write (tar.gz).", show_default=False)],
) -> None:
    """Write one archive with the database, attachments, model registry, retrieval index and a manifest."""
    from itsm_ai.backup import service

    progress, step = _progress(BACKUP_STEPS)
    try:
        with progress:
            manifest = service.create_backup(target=file, step=step)
            progress.update(progress.task_ids[0], completed=len(BACKUP_STEPS), description="done")
    except service.BackupError as exc:
        _fail(exc.message, exc.code)
    size = file.stat().st_size
    console.print(
        f"wrote {file} ({size:,} bytes): {manifest.database_kind} database at revision "
        f"{manifest.alembic_revision}, {len(manifest.files) - 1} file(s)"
    )


def restore_command(
    file: Annotated[Path, typer.Argument(help="An archive written by `itsm-ai backup`.", show_default=False)],
    force: Annotated[bool, typer.Option(help="Replace a store that already holds data.")] = False,
) -> None:
    """Check an archive's manifest and hashes, put its content in place and migrate the schema to head."""
    from itsm_ai.backup import service

    progress, step = _progress(RESTORE_STEPS)
    try:
        with progress:
            result = service.restore_backup(source=file, force=force, step=step)
            progress.update(progress.task_ids[0], completed=len(RESTORE_STEPS), description="done")
    except service.BackupError as exc:
        _fail(exc.message, exc.code)
    migrated = (
        f", migrated {result.restored_revision} -> {result.revision}"
        if result.restored_revision != result.revision
        else ""
    )
    taken = f"taken {result.manifest.created_at}, itsm-ai {result.manifest.app_version}"
    console.print(f"restored {file} ({taken}){migrated}")
