"""`itsm-ai predictions train` (fit and save the models from a ServiceNow event log) and `refresh`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)
predictions_app = typer.Typer(
    help="SLA-breach risk, time to resolve and volume anomalies.", no_args_is_help=True
)


@predictions_app.command("train")
def train_command(
    event_log: Annotated[Path, typer.Option(help="A ServiceNow incident event log (.csv or .csv.gz).")],
    promote: Annotated[bool, typer.Option(help="Make the new versions CURRENT.")] = False,
) -> None:
    """Evaluate on a time-ordered split, fit on everything, and save the three models in the registry."""
    from itsm_ai.predictions.training import train_from_event_log

    if not event_log.is_file():
        console.print(f"[red]error:[/red] no such file: {event_log}", highlight=False)
        raise typer.Exit(2)
    try:
        versions = train_from_event_log(event_log, promote=promote)
    except (KeyError, ValueError) as exc:
        console.print(f"[red]error:[/red] {event_log}: not a usable event log ({exc})", highlight=False)
        raise typer.Exit(2) from exc
    for name, version in versions.items():
        console.print(f"{name} {version}{' (CURRENT)' if promote else ''}", highlight=False)


@predictions_app.command("refresh")
def refresh_command(limit: Annotated[int, typer.Option(min=1)] = 10000) -> None:
    """Recompute the predictions of open incidents that have none or old ones."""
    from itsm_ai.predictions.flows import refresh_job

    console.print(refresh_job(limit=limit), highlight=False)
