"""The process-wide retrieval service: a vector index and a BM25 index over tickets and published articles.

Documents, keys and filters live in ``docs.py``, the session hooks and jobs in ``sync.py``; their names stay
importable from here.

What is indexed: incidents and problems in every state but cancelled (their state sits in the payload, so
a search can ask for resolved fixes or for open duplicates) and published knowledge articles. Keys are
``type code << 40 | record id``. Each entry's payload carries the record's type, state, category, opening
time (epoch seconds) and a hash of the embedded text, so a restart can tell what changed.

Consistency (the database is the truth):
* Writes: the engine listener ``on_record_event`` notes the records a transaction touched; a session
  ``before_commit`` hook snapshots their final text and ``after_commit`` queues the snapshots. Nothing
  reaches the index from a transaction that rolls back. The queue is applied (embedding in one batch)
  before the next search, so a resolved ticket is searchable at once.
* Startup and ``itsm-ai index rebuild``: ``reconcile`` compares the database with the saved index, adds
  what is missing, re-embeds what changed (by content hash), drops what is gone.
* Reads: hits are checked against the database rows; a missing row or a different text drops the hit and
  queues a re-sync, so another process's writes cannot show stale records.
"""


from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.embeddings import VectorCache
from itsm_ai.knowledge.docs import (  # noqa: F401 - re-exported: callers import these from here
    ARTICLE,
    CODE_TYPES,
    EXCERPT,
    INCIDENT,
    KEY_SHIFT,
    MAX_TEXT,
    MODELS,
    NOT_INDEXED_STATES,
    OPEN_STATES,
    PATHS,
    PROBLEM,
    RESOLVED_STATES,
    TICKET_TYPES,
    TYPE_CODES,
    Doc,
    build_doc,
    changed_docs,
    content_hash,
    doc_for,
    item_for,
    iter_docs,
    make_filter,
    make_key,
    split_key,
)
from itsm_ai.knowledge.hybrid import HybridSearcher
from itsm_ai.knowledge.lexical import LexicalIndex, tokenize
from itsm_ai.knowledge.vector_index import IndexCompatibilityError, VectorIndex

log = logging.getLogger(__name__)



# Above this many documents BM25 rebuilds in the background after a write; the dense side stays current.
LEXICAL_BACKGROUND_ABOVE = 20_000


# Texts whose vectors are kept: a new ticket's text is embedded for its on-create searches and reused when the
# committed ticket is indexed.
VECTOR_CACHE_SIZE = 256
# Unresolved tickets wait at most this many before BM25 takes them in anyway (its statistics stay close).
LEXICAL_DEFER_MAX = 256


def new_lexical_index(settings: Any = None) -> LexicalIndex:
    """The service's BM25 index with the configured k1, b and title weight."""
    s = settings or get_settings()
    return LexicalIndex(
        k1=s.knowledge_bm25_k1,
        b=s.knowledge_bm25_b,
        field_weights={"title": s.knowledge_bm25_title_weight, "body": 1},
        background_above=LEXICAL_BACKGROUND_ABOVE,
    )


def new_hybrid_searcher(
    index: VectorIndex, lexical: LexicalIndex, encoder: Any = None, settings: Any = None
) -> HybridSearcher:
    """The service's hybrid searcher with the configured fusion (benchmarks measure exactly this)."""
    s = settings or get_settings()
    return HybridSearcher(
        index,
        lexical,
        encoder,
        rrf_k=s.knowledge_hybrid_rrf_k,
        candidates=s.knowledge_hybrid_candidates,
        dense_weight=s.knowledge_hybrid_dense_weight,
        lexical_weight=s.knowledge_hybrid_lexical_weight,
        fusion=s.knowledge_hybrid_fusion,
    )



class HashingEncoder:
    """Offline bag-of-words hashing encoder with the Encoder interface (tests, machines without the model)."""

    model_name = "hashing-bow"
    model_version = "hashing-bow==1"
    dimension = 256

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed texts as normalised sums of per-token pseudo-random vectors."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for tok in tokenize(text):
                seed = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[row] += np.random.default_rng(seed).standard_normal(self.dimension, dtype=np.float32)
            if not out[row].any():
                out[row, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def default_encoder() -> Any:
    """The encoder named by the settings (the shared all-MiniLM-L6-v2 encoder by default)."""
    settings = get_settings()
    if settings.knowledge_encoder == "hash":
        return HashingEncoder()
    from itsm_ai.embeddings import get_encoder

    return get_encoder(settings.embedding_backend, settings.embedding_batch_size)


# ------------------------------------------------------------------------------------------------ service


class RetrievalService:
    """Vector + BM25 index over tickets and published articles, kept in line with the database."""

    def __init__(self, *, encoder: Any = None, directory: str | Path | None = None, settings=None):
        self.settings = settings or get_settings()
        self._encoder = encoder
        root = directory or self.settings.knowledge_index_dir or (Path(self.settings.data_dir) / "index")
        self.directory = Path(root)
        self.index: VectorIndex | None = None
        self.lexical = new_lexical_index(self.settings)
        # BM25 entries of unresolved tickets, added only when a search could return them (see _defer_lexical).
        self._lexical_deferred: dict[int, dict[str, str]] = {}
        self.vectors = VectorCache(maxsize=VECTOR_CACHE_SIZE)
        self._lock = threading.RLock()
        self._pending: dict[int, Doc | None] = {}
        self._pending_lock = threading.Lock()
        self.ready = False
        self.load_error: str | None = None
        self.last_reconcile: dict[str, Any] | None = None
        self._dirty = False
        self._saved_at = 0.0
        self._max_ids: dict[str, int] = {}
        self._since: datetime | None = None
        self._caught_up_at = 0.0
        self.catch_up_seconds = 2.0

    # -------------------------------------------------------------------------------------- basics
    @property
    def encoder(self) -> Any:
        """The encoder (loaded lazily: the real model only when something is embedded)."""
        if self._encoder is None:
            self._encoder = default_encoder()
        return self._encoder

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
            return True
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            if self.ready:
                return True
            self.index = self.load()
            if db_session is None:
                from itsm_ai.database import get_session

                with get_session() as session:
                    self.reconcile(session)
            else:
                self.reconcile(db_session)
            self.ready = True
            return True
        finally:
            self._lock.release()

    # -------------------------------------------------------------------------------- reconciliation
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
            "ready": self.ready,
            "pending": len(self._pending),
            "lexical_documents": len(self.lexical) + len(self._lexical_deferred),
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
                self._lexical_deferred.pop(key, None)
            for doc in docs:
                stored = index.payload(doc.key)
                if stored is not None and stored.get("hash") == doc.payload["hash"] and stored != doc.payload:
                    index.update_payload(doc.key, doc.payload)
            if embed:
                index.add_many([d.key for d in embed], vectors, [d.payload for d in embed])
                # Same hash means same text: only re-embedded documents change the BM25 side.
                self._add_lexical(embed)
            self._dirty = True
            return len(pending)

    def _add_lexical(self, docs: Sequence[Doc]) -> None:
        # Every write would make the next hybrid search rebuild BM25, and a new ticket is unresolved: the
        # on-create and chat searches (resolved records) cannot return it, so its entry waits until a
        # search could (see _apply_deferred_lexical).
        now: list[Doc] = []
        for doc in docs:
            if doc.payload["type"] in TICKET_TYPES and doc.payload["state"] not in RESOLVED_STATES:
                if doc.key in self.lexical:
                    self.lexical.remove(doc.key)
                self._lexical_deferred[doc.key] = doc.fields
            else:
                self._lexical_deferred.pop(doc.key, None)
                now.append(doc)
        if now:
            self.lexical.add_many([d.key for d in now], [d.fields for d in now])
        if len(self._lexical_deferred) > LEXICAL_DEFER_MAX:
            self._apply_deferred_lexical()

    def _apply_deferred_lexical(self, predicate: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Add the deferred BM25 entries when the predicate (None: any search) could return one of them."""
        if not self._lexical_deferred:
            return
        with self._lock:
            deferred = self._lexical_deferred
            index = self.index
            if predicate is not None and index is not None and len(deferred) <= LEXICAL_DEFER_MAX:
                # The stored payload is current: a state change without a text change only updates it.
                if not any(predicate(index.payload(key) or {}) for key in deferred):
                    return
            self._lexical_deferred = {}
            self.lexical.add_many(list(deferred), list(deferred.values()))

    # --------------------------------------------------------------------------------------- search
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
    ) -> list[tuple[int, float]]:
        """(key, cosine) pairs in hybrid rank order; the cosine of the query and the stored vector."""
        self.flush()
        index = self.index
        if index is None or not len(index):
            return []
        if vector is None:
            vector = self.encode(text)
        if mode != "dense":
            self._apply_deferred_lexical(predicate)
        searcher = new_hybrid_searcher(index, self.lexical, self.encoder, self.settings)
        hits = searcher.search(text, k, predicate, mode=mode, vector=vector, exclude=frozenset(exclude))
        out = []
        for hit in hits:
            if hit.dense_score is not None:
                score = hit.dense_score
            else:
                stored = index.get_vector(hit.id)
                score = float(stored @ vector) if stored is not None else 0.0
            out.append((hit.id, float(score)))
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

    def hydrate(
        self,
        db_session: Session,
        hits: Sequence[tuple[int, float]],
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """API items for hits, read from the database; hits whose row is gone or changed are dropped."""
        by_type: dict[str, list[int]] = {}
        for key, _ in hits:
            record_type, record_id = split_key(key)
            by_type.setdefault(record_type, []).append(record_id)
        rows: dict[int, Any] = {}
        for record_type, ids in by_type.items():
            model = MODELS[record_type]
            for obj in db_session.scalars(select(model).where(model.id.in_(ids))):
                rows[make_key(record_type, obj.id)] = obj
        resync: dict[int, Doc | None] = {}
        items = []
        for key, score in hits:
            record_type, _ = split_key(key)
            obj = rows.get(key)
            doc = doc_for(record_type, obj) if obj is not None else None
            stored = self.index.payload(key) if self.index is not None else None
            if doc is None or stored is None or stored.get("hash") != doc.payload["hash"]:
                resync[key] = doc
                continue
            if stored != doc.payload:
                resync[key] = doc
            if predicate is not None and not predicate(doc.payload):
                continue
            items.append(item_for(record_type, obj, score))
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
    ) -> list[dict[str, Any]]:
        """Items of the k best records for a text, best first, filtered as asked."""
        self.ensure_ready(db_session)
        self.catch_up(db_session)
        types = [t for t in (types or self.types) if t in self.types]
        if not types or k <= 0:
            return []
        predicate = make_filter(
            types=types, states=states, category=category, opened_after=opened_after,
            opened_before=opened_before,
        )
        # A few spare hits cover the ones dropped because the database changed under the index.
        hits = self.raw_search(
            text, k=k + 5, predicate=predicate, vector=vector, exclude=exclude, mode=mode
        )
        if min_score is not None:
            hits = [(key, s) for key, s in hits if s >= min_score]
        return self.hydrate(db_session, hits, predicate)[:k]



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



# The session hooks, engine listener, worker job and startup/shutdown: imported last (sync.py reaches the
# process-wide service above through this module).
from itsm_ai.knowledge.sync import (  # noqa: E402, F401 - re-exported: the engine, worker and app use these
    _after_commit,
    _after_rollback,
    _before_commit,
    _tracked,
    flush_job,
    on_record_event,
    on_shutdown,
    on_startup,
    track,
    warm_up,
)
