"""Bringing the retrieval service's index in line with the database: reconcile, rebuild and catch-up."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.database import utcnow
from itsm_ai.knowledge.docs import MODELS, Doc, changed_docs, iter_docs
from itsm_ai.knowledge.search_setup import new_lexical_index


class ReconcileMixin:
    """Reconciliation methods of ``RetrievalService`` (which holds the index, lock, queue and watermarks)."""

    def reconcile(
        self,
        db_session: Session,
        *,
        full: bool = False,
        progress: Callable[[int, int], None] | None = None,
        batch_size: int = 256,
    ) -> dict[str, Any]:
        """Bring the index in line with the database: add missing, re-embed changed, drop stale entries.

        ``full`` discards the stored vectors and embeds everything again. ``progress(done, total)`` is
        called as vectors are embedded.
        """
        started = time.perf_counter()
        with self._lock:
            self._mark_watermarks(db_session)
            if self.index is None or full:
                self.index = self._new_index() if full else self.load()
            index = self.index
            live = set(index.ids())
            seen: set[int] = set()
            to_embed: list[Doc] = []
            payload_only: list[Doc] = []
            lexical_ids: list[int] = []
            lexical_fields: list[dict[str, str]] = []
            for record_type in self.types:
                for doc in iter_docs(db_session, record_type):
                    seen.add(doc.key)
                    lexical_ids.append(doc.key)
                    lexical_fields.append(doc.fields)
                    stored = index.payload(doc.key) if doc.key in live else None
                    if stored is None or stored.get("hash") != doc.payload["hash"]:
                        to_embed.append(doc)
                    elif stored != doc.payload:
                        payload_only.append(doc)
            stale = live - seen
            index.remove_many(stale)
            for doc in payload_only:
                index.update_payload(doc.key, doc.payload)
            total = len(to_embed)
            if progress is not None:
                progress(0, total)
            for start in range(0, total, batch_size):
                chunk = to_embed[start : start + batch_size]
                vectors = self.encoder.encode([d.text for d in chunk])
                index.add_many([d.key for d in chunk], vectors, [d.payload for d in chunk])
                if progress is not None:
                    progress(min(start + batch_size, total), total)
            lexical = new_lexical_index(self.settings)
            lexical.add_many(lexical_ids, lexical_fields)
            self.lexical = lexical
            self._lexical_deferred.clear()
            # Queued changes stay queued: applying a change the database read already holds is a no-op
            # (same hash), and one committed while this ran must not be lost.
            summary = {
                "indexed": len(index),
                "embedded": total,
                "updated_payloads": len(payload_only),
                "removed": len(stale),
                "kind": index.kind,
                "seconds": round(time.perf_counter() - started, 3),
                "refused": self.load_error,
            }
            self.last_reconcile = summary
            if total or stale or payload_only or full or self.load_error:
                self._dirty = True
                self.save()
            return summary

    def rebuild(self, db_session: Session, *, progress: Callable[[int, int], None] | None = None) -> dict:
        """Embed every record again into a fresh index and save it."""
        with self._lock:
            summary = self.reconcile(db_session, full=True, progress=progress)
            self.ready = True
            return summary

    def _mark_watermarks(self, db_session: Session) -> None:
        from sqlalchemy import func

        # A few seconds of overlap: a transaction that started earlier may commit rows with older times.
        self._since = utcnow() - timedelta(seconds=30)
        for record_type in self.types:
            model = MODELS[record_type]
            self._max_ids[record_type] = db_session.scalar(select(func.max(model.id))) or 0
        self._caught_up_at = time.monotonic()

    def catch_up(self, db_session: Session, *, force: bool = False) -> int:
        """Queue rows written behind the service's back (bulk import, another process) since the last look.

        New rows are found by id, changed rows by ``updated_at``; deletions by other processes are found
        when a hit's row is missing, and by the next reconcile.
        """
        recent = time.monotonic() - self._caught_up_at < self.catch_up_seconds
        if self._since is None or (recent and not force):
            return 0
        from sqlalchemy import func, or_

        since, now = self._since, utcnow()
        changes: dict[int, Doc | None] = {}
        for record_type in self.types:
            model = MODELS[record_type]
            max_id = self._max_ids.get(record_type, 0)
            top = db_session.scalar(select(func.max(model.id))) or 0
            changes.update(
                changed_docs(db_session, record_type, or_(model.id > max_id, model.updated_at >= since))
            )
            self._max_ids[record_type] = max(max_id, top)
        self._since = now - timedelta(seconds=30)
        self._caught_up_at = time.monotonic()
        index = self.index
        if index is not None:
            # Only what differs from the index: the overlap window re-reads rows already applied.
            changes = {
                key: doc for key, doc in changes.items()
                if (doc is None and key in index) or (doc is not None and index.payload(key) != doc.payload)
            }
        self.enqueue(changes)
        return len(changes)
