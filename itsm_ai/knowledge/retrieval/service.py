"""The process-wide retrieval service: a vector index and a BM25 index over tickets and published articles.

What is indexed: incidents and problems in every state but cancelled (their state sits in the payload, so
a search can ask for resolved fixes or for open duplicates) and published knowledge articles; the documents,
keys and filters are in ``documents``.

Consistency (the database is the truth):
* Writes: ``sync`` notes the records a transaction touched and queues their final text when (and if) it
  commits (``enqueue``). The queue is applied (embedding in one batch) before the next search, so a resolved
  ticket is searchable at once.
* Startup and ``itsm-ai index rebuild``: ``reconcile`` compares the database with the saved index
  (``reconcile.plan_reconcile``), adds what is missing, re-embeds what changed (by content hash), drops what
  is gone. Before a search, rows written behind the service's back are caught up (``reconcile.Watermarks``).
* Reads: hits are checked against the database rows (``documents.read_hits``); a missing row or a different
  text drops the hit and queues a re-sync, so another process's writes cannot show stale records.
* BM25 (``deferred_lexical``): an unresolved ticket's entry waits until a search could return it, so the
  writes of new tickets do not make every resolved-only search rebuild the BM25 statistics.
* Confirmed duplicates: an incident's payload names its master (``duplicate_of``); searches list the master
  instead of the duplicate (``knowledge_collapse_duplicates``, ``duplicates``), the duplicates in ``via``.
* Encoders (blue/green, ``encoder_switch``): vectors of two encoders never share an index. Every search reads
  the registry's CURRENT (one small file) and, when it moved, swaps encoder and index under the service's
  lock, keeping the one it left in memory, so a rollback swaps back at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from itsm_ai.config import get_settings
from itsm_ai.embeddings import VectorCache
from itsm_ai.knowledge.retrieval import reconcile as plans
from itsm_ai.knowledge.retrieval.deferred_lexical import DeferredLexical
from itsm_ai.knowledge.retrieval.documents import (
    ARTICLE,
    RESOLVED_STATES,
    TYPE_CODES,
    Doc,
    make_filter,
    make_key,
    read_hits,
)
from itsm_ai.knowledge.retrieval.duplicates import collapse_indexed
from itsm_ai.knowledge.retrieval.encoder_switch import EncoderSwitch
from itsm_ai.knowledge.retrieval.factory import new_hybrid_searcher, new_lexical_index
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex
from itsm_ai.knowledge.retrieval.vector_snapshot import IndexCompatibilityError

log = logging.getLogger(__name__)


# Texts whose vectors are kept: a new ticket's text is embedded for its on-create searches and reused when the
# committed ticket is indexed.
VECTOR_CACHE_SIZE = 256


# ------------------------------------------------------------------------------------------------ service


class RetrievalService:
    """Vector + BM25 index over tickets and published articles, kept in line with the database."""

    def __init__(
        self,
        *,
        encoder: Any = None,
        directory: str | Path | None = None,
        settings=None,
        follow_registry: bool | None = None,
        encoder_resolver: Callable[[str | None], Any] | None = None,
    ):
        self.settings = settings or get_settings()
        root = directory or self.settings.knowledge_index_dir or (Path(self.settings.data_dir) / "index")
        # A given encoder is used as is; the configured model follows the registry's promoted encoder.
        if follow_registry is None:
            follow_registry = encoder is None and self.settings.knowledge_encoder == "model"
        self.switch = EncoderSwitch(
            base_directory=root,
            models_dir=self.settings.models_dir,
            encoder=encoder,
            follow_registry=follow_registry,
            resolve=encoder_resolver,
        )
        self.index: VectorIndex | None = None
        self.lexical = DeferredLexical(new_lexical_index(self.settings))
        self.vectors = VectorCache(maxsize=VECTOR_CACHE_SIZE)
        self._lock = threading.RLock()
        self._pending: dict[int, Doc | None] = {}
        self._pending_lock = threading.Lock()
        self.ready = False
        self.load_error: str | None = None
        self.last_reconcile: dict[str, Any] | None = None
        self._dirty = False
        self._saved_at = 0.0
        self.watermarks = plans.Watermarks(self.settings.knowledge_catch_up_seconds)
        # Set when another process committed indexed rows (PostgreSQL NOTIFY): the next search looks at once.
        self.remote_changes = threading.Event()

    # -------------------------------------------------------------------------------------- encoders
    def follow_encoder(self, db_session: Session | None = None) -> bool:
        """Swap to the encoder CURRENT in the registry if it moved; True when a swap happened.

        The new index was built beside the live one by the promotion; what changed since is caught up here
        (only those documents are embedded). The left index stays in memory for an instant rollback.
        """
        if not self.switch.moved():
            return False
        with self._lock:
            swapped, self.index = self.switch.swap(self.index)
            if swapped and (self.ready or self.index is not None):
                if self.index is None:
                    self.index = self.load()
                self._reconcile_in(db_session)
            return swapped

    def _reconcile_in(self, db_session: Session | None) -> None:
        """Reconcile in the caller's session, or in one of its own when it has none."""
        if db_session is not None:
            self.reconcile(db_session)
            return
        from itsm_ai.database import get_session

        with get_session() as session:
            self.reconcile(session)

    # -------------------------------------------------------------------------------------- basics
    @property
    def encoder(self) -> Any:
        """The served encoder (see ``EncoderSwitch.encoder``)."""
        return self.switch.encoder

    @property
    def encoder_version(self) -> str | None:
        """The served encoder's registry version (None: the configured model)."""
        return self.switch.version

    @property
    def directory(self) -> Path:
        """The served encoder's index folder."""
        return self.switch.directory

    @property
    def types(self) -> list[str]:
        """Record types this service indexes."""
        return [t for t in self.settings.knowledge_index_types if t in TYPE_CODES]

    def _new_index(self) -> VectorIndex:
        s = self.settings
        return VectorIndex.for_encoder(
            self.encoder,
            exact_threshold=s.knowledge_exact_threshold,
            hnsw_m=s.knowledge_hnsw_m,
            ef_construction=s.knowledge_ef_construction,
            ef_search=s.knowledge_ef_search,
        )

    def load(self) -> VectorIndex:
        """Load the saved index; a missing one starts empty, one from another model is refused (rebuilt)."""
        enc = self.encoder
        try:
            index = VectorIndex.load(
                self.directory,
                expected_model=enc.model_name,
                expected_version=enc.model_version,
                expected_dimension=enc.dimension,
            )
            index.exact_threshold = self.settings.knowledge_exact_threshold
            self.load_error = None
        except FileNotFoundError:
            index = self._new_index()
        except (IndexCompatibilityError, ValueError, OSError) as exc:
            # Vectors of another model are useless for queries embedded with ours: start over from the DB.
            log.warning("refusing the saved index at %s: %s", self.directory, exc)
            self.load_error = str(exc)
            index = self._new_index()
        return index

    def ensure_ready(self, db_session: Session | None = None, *, wait: bool = True) -> bool:
        """Load the saved index and reconcile it with the database, once per process.

        ``wait=False`` returns False at once while another thread is building the index (a ticket being
        created should not wait minutes for the start-up reconcile of a big database).
        """
        if self.ready:
            self.follow_encoder(db_session)
            return True
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            if self.ready:
                return True
            self.switch.adopt_promoted()
            self.index = self.load()
            self._reconcile_in(db_session)
            self.ready = True
            return True
        finally:
            self._lock.release()

    # ---------------------------------------------------------------------------------- persistence
    def save(self) -> Path | None:
        """Write a snapshot of the vector index (the BM25 index is rebuilt from the database on start)."""
        with self._lock:
            if self.index is None:
                return None
            path = self.index.save(self.directory)
            self._dirty = False
            self._saved_at = time.monotonic()
            return path

    def save_if_due(self) -> bool:
        """Save when something changed and the save interval has passed."""
        if not self._dirty or self.index is None:
            return False
        if time.monotonic() - self._saved_at < self.settings.knowledge_save_interval_seconds:
            return False
        self.save()
        return True

    def status(self) -> dict[str, Any]:
        """Index metadata and sync state."""
        meta = self.index.metadata() if self.index is not None else {}
        return {
            **meta,
            "directory": str(self.directory),
            "encoder_version": self.encoder_version,
            "ready": self.ready,
            "pending": len(self._pending),
            "lexical_documents": len(self.lexical),
            "refused": self.load_error,
            "last_reconcile": self.last_reconcile,
        }

    # ------------------------------------------------------------------------------- incremental sync
    def enqueue(self, changes: dict[int, Doc | None]) -> None:
        """Queue committed changes (Doc: add or replace, None: remove); applied before the next search."""
        if not changes:
            return
        with self._pending_lock:
            self._pending.update(changes)

    def flush(self) -> int:
        """Apply queued changes now (one embedding batch); returns how many entries changed."""
        if not self._pending or self.index is None:
            return 0
        with self._lock:
            with self._pending_lock:
                pending, self._pending = self._pending, {}
            index = self.index
            docs = [d for d in pending.values() if d is not None]
            embed = [d for d in docs if (index.payload(d.key) or {}).get("hash") != d.payload["hash"]]
            try:
                # Not stored: a batch of writes would push the query vectors out of the cache.
                texts = [d.text for d in embed]
                vectors = self.vectors.encode(self.encoder, texts, store=False) if embed else None
            except Exception:
                # Keep the changes queued (newer ones win) so the next search or job retries them.
                with self._pending_lock:
                    self._pending = {**pending, **self._pending}
                raise
            removals = [k for k, d in pending.items() if d is None]
            index.remove_many(removals)
            for key in removals:
                self.lexical.remove(key)
            for doc in docs:
                stored = index.payload(doc.key)
                if stored is not None and stored.get("hash") == doc.payload["hash"] and stored != doc.payload:
                    index.update_payload(doc.key, doc.payload)
            if embed:
                index.add_many([d.key for d in embed], vectors, [d.payload for d in embed])
                # Same hash means same text: only re-embedded documents change the BM25 side.
                self.lexical.add(embed)
            self._dirty = True
            return len(pending)

    def _admit_lexical(self, predicate: Callable[[dict[str, Any]], bool] | None) -> None:
        """Add the waiting BM25 entries when a search with this predicate could return one of them."""
        if not self.lexical.deferred:
            return
        with self._lock:
            index = self.index
            self.lexical.admit(predicate, index.payload if index is not None else None)

    # ------------------------------------------------------------------------------ reconciliation
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
            self.watermarks.mark(db_session, self.types)
            if self.index is None or full:
                self.index = self._new_index() if full else self.load()
            index = self.index
            plan = plans.plan_reconcile(db_session, index, self.types)
            index.remove_many(plan.stale)
            for doc in plan.payload_only:
                index.update_payload(doc.key, doc.payload)
            total = len(plan.to_embed)
            if progress is not None:
                progress(0, total)
            for start in range(0, total, batch_size):
                chunk = plan.to_embed[start : start + batch_size]
                vectors = self.encoder.encode([d.text for d in chunk])
                index.add_many([d.key for d in chunk], vectors, [d.payload for d in chunk])
                if progress is not None:
                    progress(min(start + batch_size, total), total)
            lexical = new_lexical_index(self.settings)
            lexical.add_many(plan.lexical_ids, plan.lexical_fields)
            self.lexical = DeferredLexical(lexical)
            # Queued changes stay queued: applying a change the database read already holds is a no-op
            # (same hash), and one committed while this ran must not be lost.
            summary = plans.summary(plan, index, started, self.load_error)
            self.last_reconcile = summary
            if total or plan.stale or plan.payload_only or full or self.load_error:
                self._dirty = True
                self.save()
            return summary

    def rebuild(self, db_session: Session, *, progress: Callable[[int, int], None] | None = None) -> dict:
        """Embed every record again into a fresh index and save it."""
        with self._lock:
            if not self.ready:
                self.switch.adopt_promoted()
            summary = self.reconcile(db_session, full=True, progress=progress)
            self.ready = True
            return summary

    def catch_up(self, db_session: Session, *, force: bool = False) -> int:
        """Queue rows written behind the service's back (bulk import, another process) since the last look."""
        changes = self.watermarks.changes_since(db_session, self.types, self.index, force=force)
        self.enqueue(changes)
        return len(changes)

    # ------------------------------------------------------------------------------------- queries
    def encode(self, text: str) -> np.ndarray:
        """Embed one query text (cached: the same text is indexed when its ticket commits)."""
        return np.asarray(self.vectors.encode(self.encoder, [text])[0], dtype=np.float32)

    def vector_of(self, record_type: str, record_id: int) -> np.ndarray | None:
        """The stored vector of a record, if indexed."""
        self.flush()
        return self.index.get_vector(make_key(record_type, record_id)) if self.index is not None else None

    def raw_search(
        self,
        text: str,
        *,
        k: int = 10,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        vector: np.ndarray | None = None,
        exclude: Iterable[int] = (),
        mode: str = "hybrid",
    ) -> list[tuple[int, float, tuple[int, ...]]]:
        """(key, cosine, via) in hybrid rank order; the cosine of the query and the stored vector (the best
        among a master and the confirmed duplicates it was reached through, ``via``, when they collapse)."""
        self.flush()
        index = self.index
        if index is None or not len(index):
            return []
        if vector is None:
            vector = self.encode(text)
        if mode != "dense":
            self._admit_lexical(predicate)
        searcher = new_hybrid_searcher(index, self.lexical.index, self.encoder, self.settings)
        hits = searcher.search(text, k, predicate, mode=mode, vector=vector, exclude=frozenset(exclude))
        out = []
        for hit in hits:
            if hit.dense_score is not None:
                score = hit.dense_score
            else:
                stored = index.get_vector(hit.id)
                score = float(stored @ vector) if stored is not None else 0.0
            out.append((hit.id, float(score), hit.via))
        return out

    def dense_search(
        self,
        vector: np.ndarray,
        *,
        k: int = 10,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        exclude: Iterable[int] = (),
    ) -> list[tuple[int, float]]:
        """(key, cosine) pairs by vector alone (duplicates and major-incident grouping)."""
        self.flush()
        if self.index is None or not len(self.index):
            return []
        return self.index.search(vector, k, predicate, exclude=frozenset(exclude))

    def collapse(
        self,
        hits: Sequence[tuple[int, float]],
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        exclude: Iterable[int] = (),
    ) -> list[tuple[int, float, tuple[int, ...]]]:
        """(key, score, via): confirmed duplicates among hits replaced by their masters passing ``predicate``
        (``duplicates.collapse`` over the index payloads); as given when the setting is off."""
        index = self.index
        if index is None or not self.settings.knowledge_collapse_duplicates:
            return [(key, score, ()) for key, score in hits]
        groups = collapse_indexed(hits, index.payload, predicate, exclude=frozenset(exclude))
        return [(g.key, g.score, g.via) for g in groups]

    def hydrate(
        self,
        db_session: Session,
        hits: Sequence[tuple[int, float]],
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        via: Mapping[int, Sequence[int]] | None = None,
    ) -> list[dict[str, Any]]:
        """API items for hits, read from the database; hits whose row is gone or changed are dropped.

        ``via``: per key, the confirmed duplicates a master was reached through (listed by number)."""
        index = self.index
        items, resync = read_hits(
            db_session,
            hits,
            lambda key: index.payload(key) if index is not None else None,
            predicate,
            fix_min_score=self.settings.knowledge_fix_min_score,
            via=via,
        )
        if resync:
            self.enqueue(resync)
        return items

    def search(
        self,
        db_session: Session,
        text: str,
        *,
        k: int = 10,
        types: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        category: str | None = None,
        opened_after: datetime | None = None,
        opened_before: datetime | None = None,
        exclude: Iterable[int] = (),
        vector: np.ndarray | None = None,
        min_score: float | None = None,
        mode: str = "hybrid",
        vector_encoder: Any = None,
    ) -> list[dict[str, Any]]:
        """Items of the k best records for a text, best first, filtered as asked.

        ``vector_encoder``: the encoder that made ``vector``; when the live one is another (swapped since),
        the text is embedded again rather than searched with another encoder's vector.
        """
        self.ensure_ready(db_session)
        if vector is not None and vector_encoder is not None and vector_encoder is not self.encoder:
            vector = None
        remote = self.remote_changes.is_set()
        if remote:
            self.remote_changes.clear()  # before the look: a commit during it sets the flag for the next
        self.catch_up(db_session, force=remote)
        types = [t for t in (types or self.types) if t in self.types]
        if not types or k <= 0:
            return []
        predicate = make_filter(
            types=types,
            states=states,
            category=category,
            opened_after=opened_after,
            opened_before=opened_before,
        )
        # A few spare hits cover the ones dropped because the database changed under the index.
        found = self.raw_search(text, k=k + 5, predicate=predicate, vector=vector, exclude=exclude, mode=mode)
        if min_score is not None:
            found = [hit for hit in found if hit[1] >= min_score]
        via = {key: keys for key, _, keys in found}
        return self.hydrate(db_session, [(key, s) for key, s, _ in found], predicate, via=via)[:k]


# ------------------------------------------------------------------------------------ process-wide state

_service: RetrievalService | None = None
_service_lock = threading.Lock()


def get_service() -> RetrievalService:
    """The process-wide retrieval service (created on first use)."""
    global _service
    with _service_lock:
        if _service is None:
            _service = RetrievalService()
        return _service


def current_service() -> RetrievalService | None:
    """The process-wide service if this process created one (jobs and shutdown must not create it)."""
    return _service


def reset_service(service: RetrievalService | None = None, **kwargs: Any) -> RetrievalService | None:
    """Replace the process-wide service (tests; after changing settings). kwargs build a new one."""
    global _service
    with _service_lock:
        _service = service if service is not None or not kwargs else RetrievalService(**kwargs)
        return _service


def search(
    *,
    db_session: Session,
    text: str,
    k: int = 5,
    types: list[str] | None = None,
    published_only: bool = False,
) -> list[dict[str, Any]]:
    """Hybrid search for a chat or a page: resolved/closed tickets and published articles, best first.

    ``published_only`` restricts to published knowledge articles (what a requester may see).
    """
    if not text or not text.strip():
        return []
    if published_only:
        types = [ARTICLE]
    return get_service().search(db_session, text, k=k, types=types, states=RESOLVED_STATES)
