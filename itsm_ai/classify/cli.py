"""`itsm-ai train`, `itsm-ai evaluate` and `itsm-ai models list|promote|rollback|challenger`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
models_app = typer.Typer(help="Triage models in the registry.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _out() -> Console:
    """Console for tables on stdout; wide when piped, so columns are not cut."""
    out = Console()
    return out if out.is_terminal else Console(width=160)


def _print_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def train_command(
    target: Annotated[
        str, typer.Option(help="Ticket field to predict: category, priority, assignment_group, ...")
    ],
    data: Annotated[
        Path | None, typer.Option(help="Labelled CSV to train on (default: the tickets in the store).")
    ] = None,
    text_col: Annotated[
        list[str] | None, typer.Option(help="Text column(s) of --data, joined like short + long description.")
    ] = None,
    label_col: Annotated[str | None, typer.Option(help="Label column of --data.")] = None,
    features: Annotated[
        str | None, typer.Option(help="tfidf, embedding, both, or auto (compare by CV; the default setting).")
    ] = None,
    target_precision: Annotated[
        float | None, typer.Option(help="Precision each class threshold aims for.")
    ] = None,
    min_class_count: Annotated[
        int | None, typer.Option(help="Values with fewer examples are not learnt.")
    ] = None,
    promote: Annotated[bool, typer.Option(help="Make the new version CURRENT.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the new version's metadata as JSON.")
    ] = False,
) -> None:
    """Train a new version of a triage model (from the store or a CSV) and show its held-out evaluation."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from itsm_ai.classify.training.data import DataError, check_target, csv_training_data, store_training_data
    from itsm_ai.classify.training.trainer import train_model
    from itsm_ai.errors import AppError

    try:
        check_target(target)
        if data is not None:
            if not text_col or not label_col:
                _fail("--data needs --text-col and --label-col")
            dataset = csv_training_data(data, text_cols=text_col, label_col=label_col, target=target)
        else:
            from itsm_ai.database import get_session
            from itsm_ai.migrate import upgrade

            upgrade()
            with get_session() as session:
                dataset = store_training_data(db_session=session, target=target)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            transient=as_json,
        ) as bar:
            task = bar.add_task(f"training {target}", total=1.0)

            def progress(fraction: float, message: str) -> None:
                bar.update(task, completed=fraction, description=f"{target}: {message[:70]}")

            result = train_model(
                dataset,
                target=target,
                features=features,
                target_precision=target_precision,
                min_class_count=min_class_count,
                promote=promote,
                progress=progress,
            )
    except DataError as exc:
        _fail(str(exc))
    except AppError as exc:
        _fail(exc.message)
    if as_json:
        _print_json(
            {"name": result.name, "version": result.version, "promoted": result.promoted, **result.metadata}
        )
        return
    from itsm_ai.classify.estimators.evaluation import format_report

    console.print(f"saved [bold]{result.name} {result.version}[/bold]" + (" (CURRENT)" if promote else ""))
    selection = result.metadata.get("selection")
    if selection:
        console.print(f"pipeline: {selection['reason']}", soft_wrap=True)
    evaluation = result.metadata.get("evaluation")
    if evaluation:
        typer.echo(f"held-out evaluation ({evaluation['n']} rows):\n" + format_report(evaluation))
    if not promote:
        console.print(f"promote it with: itsm-ai models promote {result.name} {result.version}")


def evaluate_command(
    target: Annotated[str, typer.Option(help="The model (target field) to evaluate, e.g. category.")],
    data: Annotated[Path, typer.Option(help="Labelled CSV.")],
    text_col: Annotated[list[str], typer.Option(help="Text column(s); several are joined like a ticket's.")],
    label_col: Annotated[str, typer.Option(help="Label column.")],
    version: Annotated[str | None, typer.Option(help="Version to evaluate (default: CURRENT).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Evaluate the CURRENT model on a labelled CSV: macro-F1, accuracy, top-3, coverage/precision at the
    thresholds, per-class precision/recall and the confusion matrix."""
    from itsm_ai.classify.estimators.evaluation import format_report
    from itsm_ai.classify.serving.evaluation import evaluate_current
    from itsm_ai.classify.training.data import DataError, csv_training_data
    from itsm_ai.registry.cache import ModelUnavailable

    try:
        dataset = csv_training_data(data, text_cols=text_col, label_col=label_col, target=target)
        report = evaluate_current(dataset, name=target, version=version)
    except DataError as exc:
        _fail(str(exc))
    except ModelUnavailable as exc:
        _fail(exc.reason, 1)
    if as_json:
        _print_json(report)
        return
    typer.echo(f"{report['model']} {report['version']} on {data}\n" + format_report(report))
    labels = report["confusion"]["labels"]
    if len(labels) <= 15:
        table = Table(title="confusion matrix (rows: true, columns: predicted)")
        table.add_column("")
        for label in labels:
            table.add_column(label[:12], justify="right")
        for label, row in zip(labels, report["confusion"]["matrix"], strict=True):
            table.add_row(label[:20], *(str(v) for v in row))
        _out().print(table)


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Models, their versions, CURRENT and challenger, with held-out scores."""
    from itsm_ai.classify.model_catalog import list_models

    models = list_models()
    if as_json:
        _print_json(models)
        return
    if not models:
        console.print("no models yet: itsm-ai train --target category")
        return
    table = Table()
    for column in ("model", "version", "created", "features", "rows", "macro-F1", "accuracy", "coverage", ""):
        table.add_column(column)
    for model in models:
        for v in model["versions"]:
            holdout = v.get("holdout") or {}
            mark = "CURRENT" if v.get("current") else ("challenger" if v.get("challenger") else "")

            def fmt(key, holdout=holdout):
                return "-" if holdout.get(key) is None else f"{holdout[key]:.3f}"

            table.add_row(
                model["name"],
                v["version"],
                str(v.get("created_at") or "")[:19],
                str(v.get("features") or "-"),
                str((v.get("data") or {}).get("size", "-")),
                fmt("macro_f1"),
                fmt("accuracy"),
                fmt("coverage"),
                mark,
            )
    _out().print(table)


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Model name (the target field).")],
    version: Annotated[str, typer.Argument(help="Version to make CURRENT, e.g. v0002.")],
) -> None:
    """Make a version CURRENT (the server picks it up without a restart)."""
    from itsm_ai.registry import store

    try:
        store.promote(name, version)
    except store.RegistryError as exc:
        _fail(str(exc))
    console.print(f"{name}: CURRENT is now {version}")


@models_app.command("rollback")
def models_rollback(name: Annotated[str, typer.Argument(help="Model name (the target field).")]) -> None:
    """Return CURRENT to the version promoted before it."""
    from itsm_ai.registry import store

    try:
        previous = store.rollback(name)
    except store.RegistryError as exc:
        _fail(str(exc))
    console.print(f"{name}: rolled back, CURRENT is now {previous}")


@models_app.command("challenger")
def models_challenger(
    name: Annotated[str, typer.Argument(help="Model name (the target field).")],
    version: Annotated[str | None, typer.Argument(help="Version to run in shadow; omit to stop.")] = None,
) -> None:
    """Run a version in shadow beside CURRENT on new tickets (see GET /models/{name}/shadow-report)."""
    from itsm_ai.registry import store

    try:
        store.set_challenger(name, version)
    except store.RegistryError as exc:
        _fail(str(exc))
    console.print(f"{name}: challenger {'is now ' + version if version else 'stopped'}")
