"""`itsm-ai chat ...`: train the virtual agent's intent detector, show conversation outcomes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

chat_app = typer.Typer(help="Virtual agent.", no_args_is_help=True)
console = Console(stderr=True)


@chat_app.command("train")
def train_command(
    promote: Annotated[bool, typer.Option(help="Make the new version the one the chat uses.")] = True,
) -> None:
    """Retrain the intent detector on the shipped examples, the store's tickets and confirmed messages."""
    from itsm_ai.chat.detector import train
    from itsm_ai.database import get_session

    with get_session() as session:
        result = train(db_session=session, promote=promote)
    scope = result["validation"].get("scope") or {}
    sources = ", ".join(f"{n} {name}" for name, n in result["sources"].items())
    console.print(
        f"chat_intents {result['version']}{' (promoted)' if promote else ''}: {result['n_examples']} in-scope"
        f" and {result['n_out_of_scope']} out-of-scope examples ({sources}); out of fold the scope gate"
        f" refuses {scope.get('in_scope_refused', 0):.1%} of in-scope and"
        f" {scope.get('out_of_scope_refused', 0):.1%} of out-of-scope examples; thresholds refuse"
        f" {result['threshold']:.3f}, ask {result['ask_threshold']:.3f}"
    )


@chat_app.command("stats")
def stats_command() -> None:
    """Conversations by outcome (deflected = a ticket avoided)."""
    from sqlalchemy import func, select

    from itsm_ai.chat.models import Conversation
    from itsm_ai.database import get_session

    with get_session() as session:
        rows = session.execute(
            select(Conversation.outcome, func.count()).group_by(Conversation.outcome)
        ).all()
    for outcome, count in sorted(rows, key=lambda r: str(r[0])):
        typer.echo(f"{outcome or 'open'}\t{count}")
