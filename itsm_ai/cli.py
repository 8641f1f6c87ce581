"""The `itsm-ai` command line: serve, db, users, import, export, report, backup, restore."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from itsm_ai import all_models  # noqa: F401  (assembles the store before any command writes)
from itsm_ai.attachment.cli import attachments_app
from itsm_ai.backup.cli import backup_command, restore_command
from itsm_ai.base.roles import Role
from itsm_ai.chat.cli import chat_app
from itsm_ai.classify.cli import evaluate_command, models_app
from itsm_ai.data.cli import export_command, import_command
from itsm_ai.encoder.cli import encoder_app, train_command
from itsm_ai.knowledge.cli import index_app, knowledge_app
from itsm_ai.mail.cli import mail_app
from itsm_ai.predictions.cli import predictions_app
from itsm_ai.reports.cli import rebuild_facts_command, report_command

app = typer.Typer(help="itsm-ai: AI-first IT service management.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(index_app, name="index")
app.add_typer(knowledge_app, name="knowledge")
app.add_typer(chat_app, name="chat")
app.add_typer(mail_app, name="mail")
app.add_typer(attachments_app, name="attachments")
app.add_typer(predictions_app, name="predictions")
console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """Print an error and exit (2 for bad input, as every command does)."""
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the database schema to the latest revision."""
    from itsm_ai.migrate import current, upgrade

    upgrade(revision=revision)
    console.print(f"database at revision {current()}")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[Role, typer.Option(help="requester, agent, admin or data_scientist.")] = Role.requester,
    password: Annotated[
        str | None, typer.Option(help="At least 8 characters; prompted when omitted.")
    ] = None,
    full_name: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a user who can log in."""
    from pydantic import ValidationError

    from itsm_ai.auth import service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.database import get_session
    from itsm_ai.errors import AppError
    from itsm_ai.migrate import upgrade

    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        user_in = UserCreate(
            username=username, role=role, password=password, full_name=full_name, email=email
        )
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    upgrade()
    try:
        with get_session() as session:
            user = service.create(db_session=session, user_in=user_in, actor=None)
            console.print(f"created user {user.username} ({user.role})")
    except AppError as exc:
        fail(exc.message)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Load the bundled demo data first (once).")] = False,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
    ssl_certfile: Annotated[
        str | None, typer.Option(help="TLS certificate (PEM): serve HTTPS, as ServiceNow clients need.")
    ] = None,
    ssl_keyfile: Annotated[str | None, typer.Option(help="The TLS certificate's private key (PEM).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="API processes (PostgreSQL only; run `itsm-ai worker` beside).")
    ] = 1,
) -> None:
    """Serve the API (OpenAPI at /docs), migrating the database first."""
    if (ssl_certfile is None) != (ssl_keyfile is None):
        console.print("--ssl-certfile and --ssl-keyfile go together")
        raise typer.Exit(2)
    import uvicorn

    from itsm_ai.config import get_settings
    from itsm_ai.database import get_engine
    from itsm_ai.migrate import upgrade

    if workers > 1 and get_engine().dialect.name != "postgresql":
        # The SQLite default keeps its queue consumer and index in the one server process.
        console.print("--workers: more than one API process needs PostgreSQL (ITSM_DATABASE_URL)")
        raise typer.Exit(2)
    if workers > 1 and reload:
        console.print("--workers and --reload do not go together")
        raise typer.Exit(2)

    upgrade()
    if demo:
        from itsm_ai.demo.load import load_demo

        load_demo(progress=True)
        from itsm_ai.demo.triage_models import ensure_demo_models

        ensure_demo_models(progress=console.print)
    scheme = "https" if ssl_certfile else "http"
    console.print(f"serving on {scheme}://{host}:{port}  (API docs: {scheme}://{host}:{port}/docs)")
    uvicorn.run(
        "itsm_ai.main:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=workers if workers > 1 else None,
        log_level="info",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        timeout_keep_alive=get_settings().api_keep_alive_seconds,
    )


@app.command("worker")
def worker(
    interval: Annotated[float | None, typer.Option(help="Seconds between periodic job runs.")] = None,
    once: Annotated[bool, typer.Option(help="Run every periodic job once and exit.")] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, max=64, help="Task threads (default: settings).")
    ] = None,
    periodic: Annotated[
        bool, typer.Option(help="Schedule the periodic jobs (--no-periodic: only run enqueued work).")
    ] = True,
) -> None:
    """Run the background jobs and the queued work (training) until interrupted."""
    from itsm_ai.engine import install
    from itsm_ai.migrate import upgrade
    from itsm_ai.worker import run_once, worker_consumer

    upgrade()
    install()
    if once:
        for job, result in run_once().items():
            console.print(f"{job}: {result}")
        return
    runner = worker_consumer(interval=interval, threads=threads, periodic=periodic)
    console.print(
        f"worker running with {runner.workers} thread(s), periodic jobs every {runner.scheduler_interval}s"
        f"{'' if periodic else ' (not scheduled here)'}; Ctrl-C to stop"
    )
    runner.run()


app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("import")(import_command)
app.command("export")(export_command)
app.command("report")(report_command)
db_app.command("rebuild-report-facts")(rebuild_facts_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.add_typer(models_app, name="models")
app.add_typer(encoder_app, name="encoder")


def main() -> None:  # pragma: no cover
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
