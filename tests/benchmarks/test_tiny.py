"""Every benchmark's --tiny mode (the CI size) runs to the end: exit 0 and the figure line it exists for.

Each runs as a subprocess with this interpreter (the venv's python), as CI would run it. The numbers are not
checked here: speed targets are judged by the full runs (ratios against a baseline of the same run).
A benchmark whose data set is not shipped with the repository (../shared/data) says "skipped: ..." without it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLOAT = r"\d+\.\d+"
NUMBER = r"\d+(?:\.\d+)?"
# benchmark -> (extra arguments, a line that carries its figure).
TINY = {
    "bench_chat": ([], rf"new chat turn p95 {NUMBER} ms = {FLOAT}x today's"),
    "bench_chat_scope": ([], rf"decide p95 x{FLOAT} today's"),
    "bench_console": ([], rf"console worst p95: {FLOAT} ms = {FLOAT}x the JSON API list"),
    "bench_classify": ([], rf"^topics: macro-F1 ratio vs baseline {FLOAT}$"),
    "bench_classify_study": ([], rf"^chosen\s+{FLOAT}\s+{FLOAT}"),
    "bench_encoder": (
        ["--curve"],
        rf"^fine-tuned hybrid R@5 {FLOAT} vs stock hybrid {FLOAT} \(x{FLOAT}\)$\n"
        rf"^  collapsing the \d+ known duplicates: hybrid R@5 stock {FLOAT} -> {FLOAT}, "
        rf"fine-tuned {FLOAT} -> {FLOAT}$(?s:.*)"
        rf"^learning curve: hybrid R@5 {FLOAT} after \d+ pairs",
    ),
    "bench_drafting": ([], rf"^webapps: top-1 ratio drafted / raw answers {FLOAT}$"),
    "bench_incremental": ([], rf"first search after a change / baseline search: {FLOAT}x"),
    "bench_index_scale": ([], rf"^random\s+3,000\s+exact\s+{FLOAT}\s+{FLOAT}\s+{FLOAT}"),
    "bench_intents": ([], rf"OOS recall {FLOAT} vs baseline {FLOAT} \(x{FLOAT}\)"),
    "bench_load": ([], rf"load: \d+ requests, \d+ errors, p95 GET /incidents {FLOAT} ms = {FLOAT}x unloaded"),
    "bench_mail": ([], rf"SMTP -> ticket: {FLOAT} mails/s .*x{FLOAT}"),
    "bench_store": ([], rf"POST incident p50/p95 {FLOAT}/{FLOAT} ms vs GET /health p95 {FLOAT} ms: ratio"),
    "bench_reports": (["--database", "sqlite"], rf"worst p95: {FLOAT} ms"),
    "bench_predictions": ([], rf"^open\s+\d+\s+{FLOAT}\s+{FLOAT}\s+{FLOAT}\s+{FLOAT}"),
    "bench_servicenow": ([], rf"^first page \(newest first\)\s+{FLOAT}ms\s+{FLOAT}ms\s+{FLOAT}"),
    "bench_similar": ([], rf"^SERVICE hybrid P@5 vs random prior: x{FLOAT}$"),
}


def test_every_benchmark_has_a_tiny_run():
    scripts = {p.stem for p in (REPO / "benchmarks").glob("bench_*.py")}
    assert scripts == set(TINY)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_run_finishes_and_prints_its_figure(name: str):
    extra, figure = TINY[name]
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--tiny", *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, tail
    if done.stdout.startswith("skipped:"):
        pytest.skip(done.stdout.strip())
    assert re.search(figure, done.stdout, re.MULTILINE), tail
