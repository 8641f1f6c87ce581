"""`itsm-ai train`, `evaluate` and `models list|promote|rollback` on the bundled demo tickets."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from itsm_ai.cli import app
from itsm_ai.registry import store

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def csv_options(demo_csv):
    """Options for `--target category` on the demo CSV; `name=value` replaces one, `name=None` drops it."""

    def options(**changes: str | None) -> list[str]:
        values = {
            "target": "category",
            "data": str(demo_csv),
            "text_col": "Document",
            "label_col": "Topic_group",
            **changes,
        }
        return [
            part
            for name, value in values.items()
            if value is not None
            for part in (f"--{name.replace('_', '-')}", value)
        ]

    return options


def test_evaluate_prints_the_report(trained, csv_options):
    result = run("evaluate", *csv_options())
    assert result.exit_code == 0, result.output
    for text in ("macro-F1", "top3 accuracy", "coverage", "Hardware", "confusion matrix"):
        assert text in result.output
    report = json.loads(run("evaluate", *csv_options(), "--json").stdout)
    assert report["n"] == 400 and report["version"] == "v0001"
    assert {"accuracy", "macro_f1", "top3_accuracy", "coverage", "precision_at_threshold"} <= set(report)
    assert report["per_class"]["Hardware"]["recall"] > 0
    assert len(report["confusion"]["matrix"]) == len(report["confusion"]["labels"])


@pytest.mark.parametrize(
    ("command", "changes", "csv_text", "message"),
    [
        ("evaluate", {"text_col": "Text"}, None, "no column 'Text'"),
        (
            "evaluate",
            {"text_col": "text", "label_col": "label"},
            "text,label\nprinter broken,Hardware\nvpn,Access,oops\n",
            "line 3",
        ),
        ("train", {"target": "colour", "text_col": None, "label_col": None}, None, "target"),
        ("train", {"label_col": None}, None, "--label-col"),
        ("train", {"label_col": "Nope"}, None, "no column 'Nope'"),
    ],
    ids=["evaluate-no-column", "evaluate-bad-line", "train-bad-target", "train-no-label", "train-no-column"],
)
def test_bad_input_exits_2_naming_the_line_or_column(
    trained, csv_options, tmp_path, command, changes, csv_text, message
):
    if csv_text is not None:  # another CSV than the demo one
        path = tmp_path / "bad.csv"
        path.write_text(csv_text, encoding="utf-8")
        changes = {**changes, "data": str(path)}
    result = run(command, *csv_options(**changes))
    assert result.exit_code == 2 and message in result.output


def test_evaluate_without_a_model_says_so(models_dir, csv_options):
    result = run("evaluate", *csv_options())
    assert result.exit_code == 1 and "no category model" in result.output


def test_train_from_csv_then_promote_and_rollback(trained, csv_options):
    result = run("train", *csv_options(features="tfidf"), "--json")
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)
    assert meta["version"] == "v0002" and not meta["promoted"] and meta["evaluation"]["n"] == 80
    assert store.current_version("category", models_dir=trained) == "v0001"
    result = run("models", "list")
    assert result.exit_code == 0 and "v0002" in result.output and "CURRENT" in result.output
    listed = json.loads(run("models", "list", "--json").stdout)
    assert [v["version"] for v in listed[0]["versions"]] == ["v0001", "v0002"]
    assert run("models", "promote", "category", "v0002").exit_code == 0
    assert store.current_version("category", models_dir=trained) == "v0002"
    assert run("models", "rollback", "category").exit_code == 0
    assert store.current_version("category", models_dir=trained) == "v0001"
    result = run("models", "promote", "category", "v0042")
    assert result.exit_code == 2 and "no version" in result.output
