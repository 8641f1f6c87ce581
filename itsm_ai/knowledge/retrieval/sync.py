"""Keeping the retrieval index in line with writes: session hooks, engine listener, worker job, startup.

The engine listener ``on_record_event`` notes the records a transaction touched; a session ``before_commit``
hook snapshots their final text and ``after_commit`` queues the snapshots on the process-wide service.
Nothing reaches the index from a transaction that rolls back.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.orm import Session

from itsm_ai.config import get_settings
from itsm_ai.database import get_engine
from itsm_ai.knowledge.retrieval import service as retrieval
from itsm_ai.knowledge.retrieval.documents import TYPE_CODES, Doc, doc_for, make_key
from itsm_ai.records.events import RecordEvent

log = logging.getLogger(__name__)

_SESSION_KEY = "knowledge_sync"
# The PostgreSQL channel on which a commit of indexed rows tells other processes; the payload is the sender.
CHANNEL = "itsm_ai_index"
PROCESS_MARK = uuid.uuid4().hex


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
    # SQLAlchemy fires the commit hooks when a savepoint is released too; only the real commit counts.
    if db_session.in_nested_transaction():
        return
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
    if snapshot and db_session.get_bind().dialect.name == "postgresql":
        # In the transaction: PostgreSQL delivers it when (and only if) the rows commit.
        notify = text("SELECT pg_notify(:channel, :mark)")
        db_session.execute(notify, {"channel": CHANNEL, "mark": PROCESS_MARK})


def _after_commit(db_session: Session) -> None:
    if db_session.in_nested_transaction():
        return
    snapshot = db_session.info.pop("knowledge_snapshot", None)
    if snapshot:
        retrieval.get_service().enqueue(snapshot)


def _after_rollback(db_session: Session) -> None:
    db_session.info.get(_SESSION_KEY, {}).clear()
    db_session.info.pop("knowledge_snapshot", None)


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Engine listener: follow writes to indexed record types (applied after the transaction commits)."""
    if event.record_type not in TYPE_CODES or event.kind not in ("created", "updated", "deleted"):
        return
    if event.kind == "updated" and not event.changed_fields & {
        "short_description",
        "description",
        "text",
        "state",
        "category",
        "opened_at",
        "duplicate_of",
    }:
        return
    track(db_session, event.record_type, event.record)


def flush_job() -> dict[str, Any]:
    """Worker job: apply queued index changes and save the index when due."""
    service = retrieval.current_service()
    if service is None or not service.ready:
        return {"skipped": "index not loaded in this process"}
    changed = service.flush()
    saved = service.save_if_due()
    return {"applied": changed, "saved": saved}


def warm_up() -> None:
    """Load and reconcile the index (app startup, in a background thread)."""
    try:
        retrieval.get_service().ensure_ready()
    except Exception:  # noqa: BLE001 - a failed warm-up retries on first use
        log.exception("knowledge index warm-up failed")


class ChangeListener:
    """A thread LISTENing on PostgreSQL for other processes' commits of indexed rows.

    Each notification sets the service's `remote_changes`, so the next search catches up at once instead of
    within `Watermarks.catch_up_seconds`. After a (re)connection it sets it too: notifications sent while it
    was not listening are lost, the rows are not.
    """

    def __init__(self, dsn: str, *, poll_seconds: float = 0.5) -> None:
        self.dsn, self.poll_seconds = dsn, poll_seconds
        self._stop = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="knowledge-index-listener", daemon=True)

    def _changed(self) -> None:
        retrieval.get_service().remote_changes.set()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'LISTEN "{CHANNEL}"')
                    self.listening.set()
                    self._changed()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self.poll_seconds):
                            if note.payload != PROCESS_MARK:
                                self._changed()
            except Exception:  # noqa: BLE001 - a lost connection is retried; searches still catch up by time
                self.listening.clear()
                log.warning("knowledge index listener: connection lost, retrying", exc_info=True)
                self._stop.wait(1.0)

    def start(self) -> ChangeListener:
        """Start listening in a daemon thread."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening (within one poll)."""
        self._stop.set()
        self._thread.join(timeout)


_listener: ChangeListener | None = None


def start_listener() -> ChangeListener | None:
    """Listen for other processes' index changes when the store is PostgreSQL (once per process)."""
    global _listener
    engine = get_engine()
    if engine.dialect.name != "postgresql" or _listener is not None:
        return _listener
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    _listener = ChangeListener(dsn).start()
    return _listener


def stop_listener() -> None:
    """Stop the listener, if this process started one."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


def on_startup(*, background: bool = True) -> threading.Thread | None:
    """App startup: load and reconcile the index in the background, so the first search does not wait.

    Without background work (tests, ``create_app(start_worker=False)``) the first use does it instead. With
    background work on PostgreSQL, other processes' writes are followed through LISTEN/NOTIFY.
    """
    if background:
        start_listener()
    if not background or not get_settings().knowledge_warm_on_startup:
        return None
    thread = threading.Thread(target=warm_up, name="knowledge-index-warm-up", daemon=True)
    thread.start()
    return thread


def on_shutdown() -> None:
    """App shutdown: stop listening; save the index if it changed (what is still queued waits for the next
    reconcile)."""
    stop_listener()
    service = retrieval.current_service()
    if service is None or not service.ready or not service._dirty:
        return
    try:
        service.save()
    except Exception:  # noqa: BLE001 - the next start reconciles with the database anyway
        log.exception("knowledge index: save on shutdown failed")
