"""`itsm-ai train --target encoder`; `itsm-ai encoder list|evaluate|promote|rollback|challenger|report`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from itsm_ai.classify.cli import train_command as triage_train_command

console = Console(stderr=True)
encoder_app = typer.Typer(help="The retrieval encoder fine-tuned on the desk's pairs.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _print_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _progress_bar(transient: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=console, transient=transient,
    )


def train_command(
    target: Annotated[
        str, typer.Option(help="encoder, or a ticket field to predict: category, assignment_group, ...")
    ],
    data: Annotated[Path | None, typer.Option(help="Triage: labelled CSV to train on.")] = None,
    text_col: Annotated[list[str] | None, typer.Option(help="Triage: text column(s) of --data.")] = None,
    label_col: Annotated[str | None, typer.Option(help="Triage: label column of --data.")] = None,
    features: Annotated[str | None, typer.Option(help="Triage: tfidf, embedding, both or auto.")] = None,
    target_precision: Annotated[float | None, typer.Option(help="Triage: per-class precision.")] = None,
    min_class_count: Annotated[int | None, typer.Option(help="Triage: smallest class learnt.")] = None,
    pairs: Annotated[
        Path | None, typer.Option(help="Encoder: CSV of pairs (added to the store's confirmed pairs).")
    ] = None,
    a_col: Annotated[list[str] | None, typer.Option(help="Encoder: query side column(s) of --pairs.")] = None,
    b_col: Annotated[list[str] | None, typer.Option(help="Encoder: match side column(s) of --pairs.")] = None,
    store: Annotated[bool, typer.Option(help="Encoder: also train on the store's confirmed pairs.")] = True,
    epochs: Annotated[int | None, typer.Option(min=1, max=20, help="Encoder: passes over the pairs.")] = None,
    max_seconds: Annotated[float | None, typer.Option(min=1, help="Encoder: training time box.")] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Encoder: stop after this many steps.")] = None,
    promote: Annotated[
        bool, typer.Option(help="Make the new version CURRENT (encoder: returns once its index is live).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new version's metadata as JSON.")] = (
        False
    ),
) -> None:
    """Train a new version of a triage model or of the retrieval encoder."""
    if target != "encoder":
        if pairs is not None or a_col or b_col:
            _fail("--pairs, --a-col and --b-col are for --target encoder")
        triage_train_command(
            target=target, data=data, text_col=text_col, label_col=label_col, features=features,
            target_precision=target_precision, min_class_count=min_class_count, promote=promote,
            as_json=as_json,
        )
        return
    if data is not None or text_col or label_col or features or target_precision or min_class_count:
        _fail("--target encoder trains on --pairs (with --a-col/--b-col), not on --data/--text-col/...")
    _train_encoder(pairs, a_col or [], b_col or [], store, epochs, max_seconds, max_steps, promote, as_json)


def _train_encoder(pairs_file, a_cols, b_cols, use_store, epochs, max_seconds, max_steps, promote, as_json):
    from itsm_ai.database import get_session
    from itsm_ai.encoder import service
    from itsm_ai.encoder.training import Pairs
    from itsm_ai.errors import AppError
    from itsm_ai.migrate import upgrade

    try:
        pairs = Pairs([], [], [])
        if pairs_file is not None:
            pairs = service.file_pairs(pairs_file, a_cols=a_cols, b_cols=b_cols)
        elif a_cols or b_cols:
            _fail("--a-col/--b-col need --pairs")
        upgrade()
        if use_store:
            with get_session() as session:
                found = service.store_pairs(db_session=session)
            pairs = Pairs(pairs.a + found.a, pairs.b + found.b, pairs.sources + found.sources)
        if len(pairs) < 2:
            _fail(f"{len(pairs)} pairs: give a --pairs file or confirm duplicates first")
        with _progress_bar(as_json) as bar:
            task = bar.add_task("encoder", total=1.0)

            def progress(fraction: float, message: str) -> None:
                bar.update(task, completed=fraction, description=f"encoder: {message[:70]}")

            meta = service.train(pairs, epochs=epochs, max_seconds=max_seconds, max_steps=max_steps,
                                 progress=progress)
            if promote:
                bar.update(task, completed=0.0, description="encoder: building its index")
                with get_session() as session:
                    service.promote(db_session=session, version=meta["version"], progress=progress)
    except service.PairsError as exc:
        _fail(str(exc))
    except AppError as exc:
        _fail(exc.message)
    if as_json:
        _print_json({**meta, "promoted": promote})
        return
    held = meta["evaluation"]["holdout"]
    training = meta["training"]
    console.print(
        f"saved [bold]encoder {meta['version']}[/bold]" + (" (CURRENT, its index is live)" if promote else "")
        + f": {training['steps']} steps on {meta['data']['size']} pairs in {training['seconds']:.0f}s "
        f"({training['stopped']})"
    )
    if held["pairs"]:
        typer.echo(_recall_line("held-out base ", held["base"]))
        typer.echo(_recall_line("held-out tuned", held["tuned"]))
    if not promote:
        console.print(f"promote it with: itsm-ai encoder promote {meta['version']}")


def _recall_line(label: str, metrics: dict) -> str:
    parts = [
        f"R@{k} {metrics[f'recall@{k}']:.3f}" for k in (1, 5, 10) if metrics.get(f"recall@{k}") is not None
    ]
    return f"{label} ({metrics.get('n', 0)} pairs): " + "  ".join(parts)


@encoder_app.command("list")
def encoder_list(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Encoder versions, CURRENT (none: the stock model) and challenger, with held-out recall."""
    from itsm_ai.encoder import service

    items = service.versions()
    if as_json:
        _print_json(items)
        return
    if not items:
        console.print("no encoder versions yet (the stock model serves): itsm-ai train --target encoder ...")
        return
    for v in items:
        held = (v.get("evaluation") or {}).get("holdout") or {}
        mark = " CURRENT" if v["current"] else (" challenger" if v["challenger"] else "")
        tuned = (held.get("tuned") or {}).get("recall@5")
        base = (held.get("base") or {}).get("recall@5")
        typer.echo(f"{v['version']}{mark}  pairs {v['data']['size']}  held-out R@5 {tuned} (base {base})")


@encoder_app.command("evaluate")
def encoder_evaluate(
    pairs: Annotated[Path, typer.Option(help="CSV of pairs.")],
    a_col: Annotated[list[str], typer.Option(help="Query side column(s).")],
    b_col: Annotated[list[str], typer.Option(help="Match side column(s).")],
    version: Annotated[list[str] | None, typer.Option(help="Versions to compare (default: CURRENT).")] = None,
    stock: Annotated[bool, typer.Option(help="Also the stock model.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """recall@1/5/10 of encoder versions (and the stock model) on a pairs file."""
    from itsm_ai.config import get_settings
    from itsm_ai.encoder import service
    from itsm_ai.errors import AppError
    from itsm_ai.knowledge.retrieval.encoders import promoted_encoder_version

    wanted = list(version or [])
    if not wanted:
        current = promoted_encoder_version(get_settings().models_dir)
        wanted = [current] if current else []
    try:
        found = service.file_pairs(pairs, a_cols=a_col, b_cols=b_col)
        report = service.evaluate(found, versions=([None] if stock else []) + wanted)
    except service.PairsError as exc:
        _fail(str(exc))
    except AppError as exc:
        _fail(exc.message)
    if as_json:
        _print_json(report)
        return
    for name, metrics in report["versions"].items():
        typer.echo(_recall_line(f"{name:>6}", metrics))


@encoder_app.command("promote")
def encoder_promote(version: Annotated[str, typer.Argument(help="Version, e.g. v0002.")]) -> None:
    """Build the version's index beside the live one, then switch every process to it."""
    from itsm_ai.database import get_session
    from itsm_ai.encoder import service
    from itsm_ai.errors import AppError
    from itsm_ai.migrate import upgrade

    try:
        upgrade()
        with _progress_bar(False) as bar, get_session() as session:
            task = bar.add_task("index", total=1.0)
            result = service.promote(
                db_session=session, version=version,
                progress=lambda f, m: bar.update(task, completed=f, description=m[:70]),
            )
    except AppError as exc:
        _fail(exc.message)
    console.print(f"encoder: CURRENT is now {version} ({result['index']['indexed']} documents in its index)")


@encoder_app.command("rollback")
def encoder_rollback() -> None:
    """Switch back to the encoder promoted before (the stock model after the first); its index was kept."""
    from itsm_ai.encoder import service
    from itsm_ai.errors import AppError

    try:
        result = service.rollback()
    except AppError as exc:
        _fail(exc.message)
    console.print(f"encoder: rolled back, CURRENT is now {result['current'] or 'the stock model'}")


@encoder_app.command("challenger")
def encoder_challenger(
    version: Annotated[str | None, typer.Argument(help="Version to compare; omit: stop.")] = None,
) -> None:
    """Name the version the shadow report compares with CURRENT."""
    from itsm_ai.encoder import service
    from itsm_ai.errors import AppError

    try:
        service.set_challenger(version)
    except AppError as exc:
        _fail(exc.message)
    console.print(f"encoder: challenger {'is now ' + version if version else 'stopped'}")


@encoder_app.command("report")
def encoder_report(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """recall@k of CURRENT and the challenger on recent confirmed pairs neither trained on."""
    from itsm_ai.database import get_session
    from itsm_ai.encoder import service
    from itsm_ai.errors import AppError

    try:
        with get_session() as session:
            report = service.shadow_report(db_session=session)
    except AppError as exc:
        _fail(exc.message)
    if as_json:
        _print_json(report)
        return
    typer.echo(f"{report['pairs']} recent confirmed pairs neither version trained on")
    for side in ("champion", "challenger"):
        if report[side] is not None:
            typer.echo(_recall_line(f"{side} {report[side]['version'] or 'stock'}", report[side]))
