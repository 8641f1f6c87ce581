"""`itsm-ai index ...` (the retrieval index) and `itsm-ai knowledge ...` (article drafting) commands."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

index_app = typer.Typer(help="The similar-ticket and knowledge search index.", no_args_is_help=True)
knowledge_app = typer.Typer(help="Knowledge articles: drafting from resolved tickets.", no_args_is_help=True)
console = Console(stderr=True)


@index_app.command("rebuild")
def index_rebuild(
    full: Annotated[
        bool, typer.Option("--full/--sync", help="Re-embed everything, or only what differs from the DB.")
    ] = True,
) -> None:
    """Rebuild the vector index from the database (the database is the truth), with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from itsm_ai.database import get_session
    from itsm_ai.knowledge.retrieval.service import get_service
    from itsm_ai.migrate import upgrade

    upgrade()
    service = get_service()
    columns = (
        TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress, get_session() as session:
        task = progress.add_task("embedding", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        if full:
            summary = service.rebuild(session, progress=report)
        else:
            service.index = service.load()
            summary = service.reconcile(session, progress=report)
            service.ready = True
    console.print(
        f"index: {summary['indexed']} records ({summary['kind']}), embedded {summary['embedded']}, "
        f"removed {summary['removed']} in {summary['seconds']:.1f}s -> {service.directory}"
    )


@index_app.command("status")
def index_status() -> None:
    """Show the saved index's metadata (model, kind, count) after reconciling it with the database."""
    from itsm_ai.database import get_session
    from itsm_ai.knowledge.retrieval.service import get_service
    from itsm_ai.migrate import upgrade

    upgrade()
    service = get_service()
    with get_session() as session:
        service.ensure_ready(session)
    typer.echo(json.dumps(service.status(), indent=2, default=str))


@knowledge_app.command("draft")
def knowledge_draft(
    days: Annotated[int | None, typer.Option(help="Only tickets resolved in the last days.")] = None,
    category: Annotated[str | None, typer.Option(help="Only tickets of this category.")] = None,
    min_cluster_size: Annotated[int | None, typer.Option(help="Smallest cluster to draft.")] = None,
    max_drafts: Annotated[int, typer.Option(help="At most this many drafts.")] = 10,
    author: Annotated[str | None, typer.Option(help="Username recorded as the drafts' author.")] = None,
) -> None:
    """Draft articles (state review) from clusters of resolved tickets that no published article covers."""
    from pydantic import ValidationError
    from sqlalchemy import select

    from itsm_ai.auth.models import User
    from itsm_ai.database import get_session
    from itsm_ai.knowledge.drafting import flows as drafting
    from itsm_ai.knowledge.drafting.schemas import DraftRequest
    from itsm_ai.migrate import upgrade

    try:
        request = DraftRequest(
            days=days, category=category, min_cluster_size=min_cluster_size, max_drafts=max_drafts
        )
    except ValidationError as exc:
        console.print(f"[red]error:[/red] {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from exc
    upgrade()
    with get_session() as session:
        actor = None
        if author is not None:
            actor = session.scalar(select(User).where(User.username == author))
            if actor is None:
                console.print(f"[red]error:[/red] author: no user {author!r}")
                raise typer.Exit(2)
        with console.status("clustering resolved tickets and drafting"):
            result = drafting.generate(db_session=session, actor=actor, request=request)
    console.print(f"{result['tickets']} uncovered resolved tickets, {result['clusters']} clusters")
    for draft in result["drafts"]:
        console.print(
            f"  {draft['number']} (in review) {draft['short_description']} "
            f"({len(draft['source_tickets'])} tickets, {draft['method']}, confidence {draft['confidence']})",
            markup=False,
        )
