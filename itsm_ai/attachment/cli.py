"""`itsm-ai attachments sweep`: remove stored files that have no row (left by crashed uploads)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

attachments_app = typer.Typer(help="Attachment storage.", no_args_is_help=True)
console = Console(stderr=True)


@attachments_app.command("sweep")
def sweep_command(
    grace_minutes: Annotated[
        float | None, typer.Option(min=0.0, help="Only files older than this (default: the setting).")
    ] = None,
) -> None:
    """Delete stored files without a database row, and unfinished writes, older than the grace period."""
    from itsm_ai.attachment import service
    from itsm_ai.database import get_session
    from itsm_ai.migrate import upgrade

    upgrade()
    with get_session() as db_session:
        counts = service.sweep_orphans(
            db_session=db_session, grace_seconds=None if grace_minutes is None else grace_minutes * 60
        )
    console.print(
        f"removed {counts['files']} orphan file(s), {counts['partial']} unfinished write(s); "
        f"{counts['kept']} old file(s) still have their row"
    )
