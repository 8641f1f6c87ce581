"""What the index must change to match the database: a full comparison, and a catch-up on recent writes.

The database is the truth. ``plan_reconcile`` reads every indexable record and sorts it against the index
(missing or changed text: embed; same text, other payload: update the payload; indexed but gone: remove).
``Watermarks`` remembers the highest ids and the time of the last look, so that ``changes_since`` finds rows
written behind the service's back (a bulk import, another process) without reading everything again. The
retrieval service applies both to its indexes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from itsm_ai.database import utcnow
from itsm_ai.knowledge.retrieval.documents import MODELS, Doc, changed_docs, iter_docs
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex

# A transaction that started earlier may commit rows with older times: look back this far.
OVERLAP = timedelta(seconds=30)


@dataclass
class ReconcilePlan:
    """How the index differs from the database, and the BM25 entries of every indexable record."""

    to_embed: list[Doc] = field(default_factory=list)
    payload_only: list[Doc] = field(default_factory=list)
    stale: set[int] = field(default_factory=set)
    lexical_ids: list[int] = field(default_factory=list)
    lexical_fields: list[dict[str, str]] = field(default_factory=list)


def plan_reconcile(db_session: Session, index: VectorIndex, types: list[str]) -> ReconcilePlan:
    """Compare every indexable record of ``types`` with the index (by content hash and payload)."""
    plan = ReconcilePlan()
    live = set(index.ids())
    seen: set[int] = set()
    for record_type in types:
        for doc in iter_docs(db_session, record_type):
            seen.add(doc.key)
            plan.lexical_ids.append(doc.key)
            plan.lexical_fields.append(doc.fields)
            stored = index.payload(doc.key) if doc.key in live else None
            if stored is None or stored.get("hash") != doc.payload["hash"]:
                plan.to_embed.append(doc)
            elif stored != doc.payload:
                plan.payload_only.append(doc)
    plan.stale = live - seen
    return plan


class Watermarks:
    """The highest record ids and the time of the last look at the database, per record type."""

    def __init__(self, catch_up_seconds: float = 2.0):
        # Searches within this many seconds of the last look do not look again (unless forced).
        self.catch_up_seconds = catch_up_seconds
        self.max_ids: dict[str, int] = {}
        self.since: datetime | None = None
        self.looked_at = 0.0

    def mark(self, db_session: Session, types: list[str]) -> None:
        """Remember where the database stands now (before a full reconcile reads it)."""
        self.since = utcnow() - OVERLAP
        for record_type in types:
            model = MODELS[record_type]
            self.max_ids[record_type] = db_session.scalar(select(func.max(model.id))) or 0
        self.looked_at = time.monotonic()

    def changes_since(
        self, db_session: Session, types: list[str], index: VectorIndex | None, *, force: bool = False
    ) -> dict[int, Doc | None]:
        """Docs of rows created or updated since the last look that differ from the index (None: remove).

        New rows are found by id, changed rows by ``updated_at``; deletions by other processes are found
        when a hit's row is missing, and by the next reconcile.
        """
        recent = time.monotonic() - self.looked_at < self.catch_up_seconds
        if self.since is None or (recent and not force):
            return {}
        since, now = self.since, utcnow()
        changes: dict[int, Doc | None] = {}
        for record_type in types:
            model = MODELS[record_type]
            max_id = self.max_ids.get(record_type, 0)
            top = db_session.scalar(select(func.max(model.id))) or 0
            changes.update(
                changed_docs(db_session, record_type, or_(model.id > max_id, model.updated_at >= since))
            )
            self.max_ids[record_type] = max(max_id, top)
        self.since = now - OVERLAP
        self.looked_at = time.monotonic()
        if index is not None:
            # Only what differs from the index: the overlap window re-reads rows already applied.
            changes = {
                key: doc for key, doc in changes.items()
                if (doc is None and key in index) or (doc is not None and index.payload(key) != doc.payload)
            }
        return changes


def summary(plan: ReconcilePlan, index: VectorIndex, started: float, refused: str | None) -> dict[str, Any]:
    """What a reconcile did, as ``status()`` and ``itsm-ai index rebuild`` show it."""
    return {
        "indexed": len(index),
        "embedded": len(plan.to_embed),
        "updated_payloads": len(plan.payload_only),
        "removed": len(plan.stale),
        "kind": index.kind,
        "seconds": round(time.perf_counter() - started, 3),
        "refused": refused,
    }
