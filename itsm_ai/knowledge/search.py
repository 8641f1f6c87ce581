"""The process-wide retrieval service: a vector index and a BM25 index over tickets and published articles.

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.knowledge.hybrid import HybridSearcher
from itsm_ai.knowledge.lexical import LexicalIndex, tokenize
from itsm_ai.knowledge.models import KnowledgeArticle
from itsm_ai.knowledge.vector_index import IndexCompatibilityError, VectorIndex
from itsm_ai.records.events import RecordEvent
from itsm_ai.ticket.enums import ArticleState
from itsm_ai.ticket.models import Incident, Problem

log = logging.getLogger(__name__)

INCIDENT, PROBLEM, ARTICLE = "incident", "problem", "knowledge_article"
TYPE_CODES = {INCIDENT: 1, PROBLEM: 2, ARTICLE: 3}
CODE_TYPES = {v: k for k, v in TYPE_CODES.items()}
MODELS: dict[str, type] = {INCIDENT: Incident, PROBLEM: Problem, ARTICLE: KnowledgeArticle}
PATHS = {INCIDENT: "incidents", PROBLEM: "problems", ARTICLE: "knowledge"}
TICKET_TYPES = (INCIDENT, PROBLEM)
RESOLVED_STATES = ("resolved", "closed")
OPEN_STATES = ("new", "in_progress", "on_hold")
NOT_INDEXED_STATES = frozenset({"cancelled"})
KEY_SHIFT = 40
MAX_TEXT = 4000
EXCERPT = 300


# Above this many documents BM25 rebuilds in the background after a write; the dense side stays current.
LEXICAL_BACKGROUND_ABOVE = 20_000


def _new_lexical() -> LexicalIndex:
    return LexicalIndex(field_weights={"title": 2, "body": 1}, background_above=LEXICAL_BACKGROUND_ABOVE)


def make_key(record_type: str, record_id: int) -> int:
    """The index key of a record."""
    return (TYPE_CODES[record_type] << KEY_SHIFT) | int(record_id)


def split_key(key: int) -> tuple[str, int]:
    """(record_type, record id) of an index key."""
    return CODE_TYPES[int(key) >> KEY_SHIFT], int(key) & ((1 << KEY_SHIFT) - 1)


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


# ------------------------------------------------------------------------------------------------ documents


@dataclass(frozen=True)
class Doc:
    """What the index holds for one record: embedded text, lexical fields and payload."""

    key: int
    text: str
    fields: dict[str, str]
    payload: dict[str, Any]


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def content_hash(text: str) -> str:
    """Hash of the embedded text (a changed hash means re-embed)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def build_doc(
    record_type: str,
    record_id: int,
    title: str | None,
    body: str | None,
    state: str | None,
    category: str | None,
    opened: datetime | None,
) -> Doc | None:
    """The index document of a record, or None when the record is not indexed (cancelled, unpublished)."""
    if record_type == ARTICLE:
        if state != ArticleState.published:
            return None
    elif state in NOT_INDEXED_STATES:
        return None
    title, body = title or "", (body or "")[:MAX_TEXT]
    text = f"{title}\n{body}".strip()[:MAX_TEXT]
    payload = {
        "type": record_type,
        "state": str(state),
        "category": category,
        "opened_ts": _ts(opened),
        "hash": content_hash(text),
    }
    return Doc(make_key(record_type, record_id), text, {"title": title, "body": body}, payload)


def doc_for(record_type: str, obj: Any) -> Doc | None:
    """The index document of an ORM record."""
    if record_type == ARTICLE:
        return build_doc(
            ARTICLE, obj.id, obj.short_description, obj.text, obj.state, obj.category,
            obj.published_at or obj.created_at,
        )
    return build_doc(
        record_type, obj.id, obj.short_description, obj.description, obj.state, obj.category, obj.opened_at
    )


def _columns(record_type: str) -> list[Any]:
    model = MODELS[record_type]
    if record_type == ARTICLE:
        return [model.id, model.short_description, model.text, model.state, model.category,
                model.published_at, model.created_at]
    return [model.id, model.short_description, model.description, model.state, model.category,
            model.opened_at]


def _row_doc(record_type: str, row: Any) -> Doc | None:
    if record_type == ARTICLE:
        return build_doc(ARTICLE, row[0], row[1], row[2], row[3], row[4], row[5] or row[6])
    return build_doc(record_type, *row)


def iter_docs(db_session: Session, record_type: str, where: Any = None) -> Iterable[Doc]:
    """Index documents of every indexable record of a type (optionally matching ``where``), streamed."""
    model = MODELS[record_type]
    stmt = select(*_columns(record_type)).order_by(model.id)
    if record_type == ARTICLE:
        stmt = stmt.where(model.state == ArticleState.published.value)
    else:
        stmt = stmt.where(model.state.notin_(NOT_INDEXED_STATES))
    if where is not None:
        stmt = stmt.where(where)
    for row in db_session.execute(stmt.execution_options(yield_per=2000)):
        doc = _row_doc(record_type, row)
        if doc is not None:
            yield doc


def changed_docs(db_session: Session, record_type: str, where: Any) -> dict[int, Doc | None]:
    """Docs of the records matching ``where``, None for those no longer indexable (cancelled, retired)."""
    out: dict[int, Doc | None] = {}
    for row in db_session.execute(select(*_columns(record_type)).where(where)):
        out[make_key(record_type, row[0])] = _row_doc(record_type, row)
    return out


# ------------------------------------------------------------------------------------------------ filters


def make_filter(
    *,
    types: Sequence[str] | None = None,
    states: Sequence[str] | None = None,
    category: str | None = None,
    opened_after: datetime | None = None,
    opened_before: datetime | None = None,
) -> Callable[[dict[str, Any]], bool]:
    """Payload predicate: types, ticket states (articles are always published), category, opening time."""
    type_set = frozenset(types) if types else None
    state_set = frozenset(states) if states else None
    after, before = _ts(opened_after), _ts(opened_before)

    def predicate(payload: dict[str, Any]) -> bool:
        kind = payload.get("type")
        if type_set is not None and kind not in type_set:
            return False
        if state_set is not None and kind != ARTICLE and payload.get("state") not in state_set:
            return False
        if category is not None and payload.get("category") != category:
            return False
        if after is not None or before is not None:
            opened = payload.get("opened_ts")
            if opened is None:
                return False
            if after is not None and opened < after:
                return False
            if before is not None and opened >= before:
                return False
        return True

    return predicate


# ------------------------------------------------------------------------------------------------ service


class RetrievalService:
    """Vector + BM25 index over tickets and published articles, kept in line with the database."""

    def __init__(self, *, encoder: Any = None, directory: str | Path | None = None, settings=None):
        self.settings = settings or get_settings()
        self._encoder = encoder
        root = directory or self.settings.knowledge_index_dir or (Path(self.settings.data_dir) / "index")
        self.directory = Path(root)
        self.index: VectorIndex | None = None
        self.lexical = _new_lexical()
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
            lexical = _new_lexical()
            lexical.add_many(lexical_ids, lexical_fields)
            self.lexical = lexical
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
                vectors = self.encoder.encode([d.text for d in embed]) if embed else None
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
                self.lexical.add_many([d.key for d in embed], [d.fields for d in embed])
            self._dirty = True
            return len(pending)

    # --------------------------------------------------------------------------------------- search
    def encode(self, text: str) -> np.ndarray:
        """Embed one query text."""
        return np.asarray(self.encoder.encode([text])[0], dtype=np.float32)

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
        searcher = HybridSearcher(index, self.lexical, self.encoder)
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


def item_for(record_type: str, obj: Any, score: float) -> dict[str, Any]:
    """One result item: the contract of /similar and of suggestions["similar"]."""
    item: dict[str, Any] = {
        "id": obj.id,
        "number": obj.number,
        "record_type": record_type,
        "correlation_id": obj.correlation_id,
        "short_description": obj.short_description,
        "score": round(float(score), 4),
        "state": obj.state,
        "category": obj.category,
        "suggested_fix": None,
        "url": f"/api/v1/{PATHS[record_type]}/{obj.number}",
    }
    if record_type == ARTICLE:
        text = obj.text or ""
        item["excerpt"] = text[:EXCERPT] + ("..." if len(text) > EXCERPT else "")
    else:
        fix = obj.resolution_notes
        if record_type == PROBLEM and not fix:
            fix = obj.workaround or obj.cause_notes
        item["suggested_fix"] = fix
        item["opened_at"] = obj.opened_at.isoformat() if obj.opened_at else None
        item["resolved_at"] = obj.resolved_at.isoformat() if obj.resolved_at else None
    return item


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


# --------------------------------------------------------------------------------- engine write listener

_SESSION_KEY = "knowledge_sync"


def _tracked(db_session: Session) -> dict[int, tuple[str, Any]]:
    info = db_session.info
    if _SESSION_KEY not in info:
        info[_SESSION_KEY] = {}
        sa_event.listen(db_session, "before_commit", _before_commit)
        sa_event.listen(db_session, "after_commit", _after_commit)
        sa_event.listen(db_session, "after_rollback", _after_rollback)
    return info[_SESSION_KEY]


def track(db_session: Session, record_type: str, obj: Any) -> None:
    """Note that a record changed in this transaction; the index follows when (and if) it commits."""
    if record_type not in TYPE_CODES or obj.id is None:
        return
    _tracked(db_session)[make_key(record_type, obj.id)] = (record_type, obj)


def _before_commit(db_session: Session) -> None:
    tracked = db_session.info.get(_SESSION_KEY)
    if not tracked:
        return
    snapshot: dict[int, Doc | None] = {}
    for key, (record_type, obj) in tracked.items():
        try:
            state = sa_inspect(obj)
            if state.deleted or state.was_deleted:
                snapshot[key] = None
            elif state.persistent:
                snapshot[key] = doc_for(record_type, obj)
            # transient or pending: the insert was rolled back in a savepoint; nothing to index
        except Exception:  # noqa: BLE001 - the index must never break a write
            log.exception("knowledge index: cannot snapshot %s", key)
    db_session.info["knowledge_snapshot"] = snapshot
    tracked.clear()


def _after_commit(db_session: Session) -> None:
    snapshot = db_session.info.pop("knowledge_snapshot", None)
    if snapshot:
        get_service().enqueue(snapshot)


def _after_rollback(db_session: Session) -> None:
    db_session.info.get(_SESSION_KEY, {}).clear()
    db_session.info.pop("knowledge_snapshot", None)


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Engine listener: follow writes to indexed record types (applied after the transaction commits)."""
    if event.record_type not in TYPE_CODES or event.kind not in ("created", "updated", "deleted"):
        return
    if event.kind == "updated" and not event.changed_fields & {
        "short_description", "description", "text", "state", "category", "opened_at",
    }:
        return
    track(db_session, event.record_type, event.record)


def flush_job() -> dict[str, Any]:
    """Worker job: apply queued index changes and save the index when due."""
    service = _service
    if service is None or not service.ready:
        return {"skipped": "index not loaded in this process"}
    changed = service.flush()
    saved = service.save_if_due()
    return {"applied": changed, "saved": saved}


def warm_up() -> None:
    """Load and reconcile the index (app startup, in a background thread)."""
    try:
        get_service().ensure_ready()
    except Exception:  # noqa: BLE001 - a failed warm-up retries on first use
        log.exception("knowledge index warm-up failed")


def on_startup(*, background: bool = True) -> threading.Thread | None:
    """App startup: load and reconcile the index in the background, so the first search does not wait.

    Without background work (tests, ``create_app(start_worker=False)``) the first use does it instead.
    """
    if not background or not get_settings().knowledge_warm_on_startup:
        return None
    thread = threading.Thread(target=warm_up, name="knowledge-index-warm-up", daemon=True)
    thread.start()
    return thread


def on_shutdown() -> None:
    """App shutdown: save the index if it changed (anything still queued waits for the next reconcile)."""
    service = _service
    if service is None or not service.ready or not service._dirty:
        return
    try:
        service.save()
    except Exception:  # noqa: BLE001 - the next start reconciles with the database anyway
        log.exception("knowledge index: save on shutdown failed")
