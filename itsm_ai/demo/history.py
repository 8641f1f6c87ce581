"""The demo's ticket history: the shipped Stack Exchange questions as resolved and closed tickets with their
accepted answers as resolution notes, and the written cluster the drafting flow turns into an article,
imported through the CSV importer (one transaction: all rows or none)."""

from __future__ import annotations

import csv
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.demo.data import (
    ALICE_RESOLVED,
    DRAFT_CLUSTER,
    DRAFT_CLUSTER_CATEGORY,
    REQUESTERS,
    attribution,
    qa_items,
)


def history_rows(now) -> tuple[list[str], list[list[str]]]:
    """Resolved and closed tickets: the shipped Stack Exchange questions with their accepted answers as
    resolution notes, and the written cluster the drafting flow turns into an article; deterministic."""
    columns = [
        "correlation_id",
        "short_description",
        "description",
        "resolution_notes",
        "category",
        "group",
        "caller",
        "assignee",
        "state",
        "opened_at",
        "resolved_at",
        "closed_at",
        "extra.source_url",
        "extra.licence",
    ]
    callers = [username for username, _ in REQUESTERS]
    rows = []
    for i, item in enumerate(qa_items()):
        opened = now - timedelta(hours=11 * i + 30)
        resolved = opened + timedelta(hours=2 + i % 30)
        closed = resolved + timedelta(days=3)
        state = "closed" if closed < now else "resolved"
        credit = attribution(item)
        rows.append(
            [
                f"demo-se-{item['id']}",
                item["question"],
                f"{item['question']}\n\n{credit}",
                f"{item['answer']}\n\n{credit}",
                item["category"],
                item["group"],
                "alice" if i in ALICE_RESOLVED else callers[i % len(callers)],
                "agent",
                state,
                opened.isoformat(),
                resolved.isoformat(),
                closed.isoformat() if state == "closed" else "",
                item["url"],
                item["licence"],
            ]
        )
    for i, (key, title, text, fix) in enumerate(DRAFT_CLUSTER):
        opened = now - timedelta(days=6 - i, hours=3)
        resolved = opened + timedelta(hours=4)
        rows.append(
            [
                key,
                title,
                text,
                fix,
                DRAFT_CLUSTER_CATEGORY,
                "Web and Collaboration",
                callers[(i + 2) % len(callers)],
                "agent",
                "resolved",
                opened.isoformat(),
                resolved.isoformat(),
                "",
                "",
                "",
            ]
        )
    return columns, rows


def import_history(counts: Counter[str], actor) -> None:
    """Import the history rows through the CSV importer in one transaction; counts what was added."""
    from itsm_ai.data.importer import import_csv
    from itsm_ai.database import utcnow

    columns, rows = history_rows(utcnow().replace(microsecond=0))
    with tempfile.TemporaryDirectory(prefix="itsm-demo-") as folder:
        path = Path(folder) / "stackexchange_demo.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows)
        mapping = {"assignment_group": "group", "assigned_to": "assignee"}
        report = import_csv(path=path, mapping=mapping, constants={"resolution_code": "solved"}, actor=actor)
    if report.bad:
        problems = "; ".join(str(p) for p in report.bad[:5])
        raise RuntimeError(f"demo data {report.path} has bad rows: {problems}")
    counts["incidents"] += report.imported


def history_loaded(session: Session) -> bool:
    """True when the last history row is stored (the import is one transaction: all rows or none)."""
    from itsm_ai.ticket.models import Incident

    last = DRAFT_CLUSTER[-1][0]
    return session.scalar(select(Incident.id).where(Incident.correlation_id == last)) is not None
