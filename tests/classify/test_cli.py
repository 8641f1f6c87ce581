"""`itsm-ai train`, `evaluate` and `models list|promote|rollback` on the bundled demo tickets."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from itsm_ai.classify import registry
from itsm_ai.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_evaluate_prints_the_report(trained, demo_csv):
    result = run(
        "evaluate",
        "--target",
        "category",
        "--data",
        str(demo_csv),
        "--text-col",
        "Document",
        "--label-col",
        "Topic_group",
    )
    assert result.exit_code == 0, result.output
    for text in ("macro-F1", "top3 accuracy", "coverage", "Hardware", "confusion matrix"):
        assert text in result.output
    result = run(
        "evaluate",
        "--target",
        "category",
        "--data",
        str(demo_csv),
        "--text-col",
        "Document",
        "--label-col",
        "Topic_group",
        "--json",
    )
    report = json.loads(result.stdout)
    assert report["n"] == 400 and report["version"] == "v0001"
    assert {"accuracy", "macro_f1", "top3_accuracy", "coverage", "precision_at_threshold"} <= set(report)
    assert report["per_class"]["Hardware"]["recall"] > 0
    assert len(report["confusion"]["matrix"]) == len(report["confusion"]["labels"])


def test_evaluate_bad_input_exits_2_naming_line_or_column(trained, demo_csv, tmp_path):
    result = run(
        "evaluate",
        "--target",
        "category",
        "--data",
        str(demo_csv),
        "--text-col",
        "Text",
        "--label-col",
        "Topic_group",
    )
    assert result.exit_code == 2 and "no column 'Text'" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nprinter broken,Hardware\nvpn,Access,oops\n", encoding="utf-8")
    result = run(
        "evaluate", "--target", "category", "--data", str(bad), "--text-col", "text", "--label-col", "label"
    )
    assert result.exit_code == 2 and "line 3" in result.output


def test_evaluate_without_a_model_says_so(models_dir, demo_csv):
    result = run(
        "evaluate",
        "--target",
        "category",
        "--data",
        str(demo_csv),
        "--text-col",
        "Document",
        "--label-col",
        "Topic_group",
    )
    assert result.exit_code == 1 and "no category model" in result.output


def test_train_from_csv_then_promote_and_rollback(trained, demo_csv):
    result = run(
        "train",
        "--target",
        "category",
        "--data",
        str(demo_csv),
        "--text-col",
        "Document",
        "--label-col",
        "Topic_group",
        "--features",
        "tfidf",
        "--json",
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)
    assert meta["version"] == "v0002" and not meta["promoted"] and meta["evaluation"]["n"] == 80
    assert registry.current_version("category", models_dir=trained) == "v0001"
    result = run("models", "list")
    assert result.exit_code == 0 and "v0002" in result.output and "CURRENT" in result.output
    listed = json.loads(run("models", "list", "--json").stdout)
    assert [v["version"] for v in listed[0]["versions"]] == ["v0001", "v0002"]
    assert run("models", "promote", "category", "v0002").exit_code == 0
    assert registry.current_version("category", models_dir=trained) == "v0002"
    assert run("models", "rollback", "category").exit_code == 0
    assert registry.current_version("category", models_dir=trained) == "v0001"
    result = run("models", "promote", "category", "v0042")
    assert result.exit_code == 2 and "no version" in result.output


def test_train_bad_input_exits_2(models_dir, demo_csv):
    result = run("train", "--target", "colour", "--data", str(demo_csv))
    assert result.exit_code == 2 and "target" in result.output
    result = run("train", "--target", "category", "--data", str(demo_csv), "--text-col", "Document")
    assert result.exit_code == 2 and "--label-col" in result.output
    result = run(
        "train",
        "--target",
        "category",
        "--data",
        str(demo_csv),
        "--text-col",
        "Document",
        "--label-col",
        "Nope",
    )
    assert result.exit_code == 2 and "no column 'Nope'" in result.output
