"""`itsm-ai mail ...`: the SMTP receiver, IMAP polling, taking in .eml files, and the intake log."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

mail_app = typer.Typer(help="Inbound e-mail: receive, poll, take in files.", no_args_is_help=True)
console = Console(stderr=True)


def _prepare() -> None:
    from itsm_ai.engine import install
    from itsm_ai.migrate import upgrade

    upgrade()
    install()


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


@mail_app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="Interface (default ITSM_MAIL_SMTPD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default ITSM_MAIL_SMTPD_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Intake threads.")] = 1,
) -> None:
    """Receive mail over SMTP and turn it into tickets until interrupted."""
    from itsm_ai.config import get_settings
    from itsm_ai.mail.smtpd import serve

    settings = get_settings()
    host = host or settings.mail_smtpd_host
    port = port if port is not None else settings.mail_smtpd_port
    if not 0 < port < 65536:
        _fail(f"--port: {port} is not a TCP port")
    _prepare()

    def ready(_controller) -> None:
        console.print(f"receiving mail on {host}:{port} ({workers} intake thread(s)); Ctrl-C to stop")

    try:
        totals = serve(host, port, workers=workers, on_ready=ready)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc}")
    console.print(f"stopped; taken in: {totals}")


@mail_app.command("poll")
def poll_command(
    once: Annotated[bool, typer.Option(help="Poll once and exit.")] = False,
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between polls.")] = 30.0,
) -> None:
    """Poll the IMAP mailbox (ITSM_MAIL_IMAP_*) and turn its mail into tickets."""
    from itsm_ai.mail.imap import ImapNotConfigured, poll_once
    from itsm_ai.mail.smtpd import limit_torch_threads

    _prepare()
    limit_torch_threads()
    while True:
        try:
            counts = poll_once()
        except ImapNotConfigured as exc:
            _fail(str(exc))
        except OSError as exc:
            if once:
                _fail(f"cannot reach the IMAP server: {exc}")
            console.print(f"[yellow]IMAP server unreachable:[/yellow] {exc}")
            counts = {}
        console.print(f"polled: {counts or 'nothing new'}")
        if once:
            return
        time.sleep(interval)


@mail_app.command("ingest")
def ingest_command(
    files: Annotated[list[Path], typer.Argument(help=".eml files (one message each).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout.")] = False,
) -> None:
    """Take in raw messages from files, as if they had arrived by mail."""
    from itsm_ai.mail.flows import take_in

    for path in files:
        if not path.is_file():
            _fail(f"{path}: no such file")
    _prepare()
    table = Table("file", "outcome", "ticket", "reason")
    for path in files:
        result = take_in(path.read_bytes(), source="file")
        if as_json:
            row = {
                "file": str(path),
                "outcome": str(result.outcome),
                "number": result.number,
                "reason": result.reason,
                "message_id": result.message_id,
            }
            print(json.dumps(row))
        else:
            table.add_row(path.name, str(result.outcome), result.number or "", (result.reason or "")[:80])
    if not as_json:
        Console().print(table)


@mail_app.command("log")
def log_command(
    outcome: Annotated[
        str | None, typer.Option(help="Only this outcome (ticket, ignored, dead_letter...).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """The intake log, newest first."""
    from itsm_ai.database import get_session
    from itsm_ai.mail import service
    from itsm_ai.mail.enums import IntakeOutcome

    try:
        wanted = IntakeOutcome(outcome) if outcome else None
    except ValueError:
        _fail(f"--outcome: one of {', '.join(o.value for o in IntakeOutcome)}")
    _prepare()
    table = Table("received", "sender", "subject", "outcome", "ticket", "reason")
    with get_session() as db_session:
        for row in service.list_log(db_session=db_session, outcome=wanted, limit=limit):
            table.add_row(
                row.received_at.strftime("%Y-%m-%d %H:%M:%S"),
                row.sender or "",
                (row.subject or "")[:40],
                row.outcome,
                row.number or "",
                (row.reason or "")[:60],
            )
    Console().print(table)
