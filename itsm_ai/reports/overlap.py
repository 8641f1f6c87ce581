"""Run a report's independent walks at once: the first on the request's session, each other one in a thread on
a connection of its own from the same engine.

A walk is one SELECT; on both databases a read session runs each SELECT in its own snapshot (SQLite: the
driver opens no transaction for reads, so each statement is its own read transaction; PostgreSQL: READ
COMMITTED), so two walks of a report never shared a snapshot: walks on two connections see the store as
consistently as two statements on one. While one connection's database works (sqlite3 and psycopg release the
GIL), numpy tallies the other's rows: on two cores a report of two equal walks takes well under twice one
(resolution-time at 1M incidents: ~650 -> ~400 ms on SQLite, see ticket_metrics). Every walk's figures are
exactly what it gives alone.

The walks run one after the other on the request's session instead when overlapping could change what they
see or could not be afforded:
- the session has written in its open transaction (another connection would not see those rows), or reads
  in one snapshot (PostgreSQL REPEATABLE READ or SERIALIZABLE; SQLite in an explicit transaction);
- an in-memory SQLite database (a second connection is another, empty database);
- no helper connection is free: at most `reports_overlap_connections` (settings, taken from
  `database_pool_reserve`) are in use at once in the process, so a request still holds one pooled connection
  of those the admission limit counts, and concurrent reports never wait on the pool for a helper.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from itsm_ai.config import get_settings
from itsm_ai.database import WRITE_OPTION

T = TypeVar("T")

_lock = threading.Lock()
_in_use = 0


def run_together(db_session: Session, tasks: Sequence[Callable[[Session], T]]) -> list[T]:
    """Each task's result (task(session)), in order: tasks[0] on db_session in this thread, the others in
    threads on helper connections when `overlappable` and a helper slot is free, else on db_session."""
    if len(tasks) < 2 or not overlappable(db_session):
        return [task(db_session) for task in tasks]
    futures: list[Future | None] = []
    for task in tasks[1:]:
        futures.append(_start(db_session, task) if _take_slot() else None)
    try:
        first = tasks[0](db_session)
    finally:
        # Wait for every helper even when the first task failed: no thread outlives the request's session.
        outcomes = [_wait(future) for future in futures]
    out = [first]
    for task, future, outcome in zip(tasks[1:], futures, outcomes, strict=True):
        if future is None:
            out.append(task(db_session))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            out.append(outcome)
    return out


def overlappable(db_session: Session) -> bool:
    """True when another connection of the session's engine sees what the session sees: a database on disk
    or a server, and no write in the session's open transaction (pending, flushed or executed)."""
    if db_session.new or db_session.dirty or db_session.deleted:
        return False
    bind = db_session.get_bind()
    if not isinstance(bind, Engine):
        return False  # bound to one connection (perhaps inside an outer transaction): keep to it
    url = bind.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or "mode=memory" in str(url):
            return False
        raw = db_session.connection().connection.driver_connection
        return not raw.in_transaction  # the driver opens a transaction only to write
    if bind.dialect.name == "postgresql":
        # A transaction that has written holds a transaction id; one that only read has none. Under REPEATABLE
        # READ or SERIALIZABLE the session's statements share one snapshot, which a helper would not see.
        check = "SELECT txid_current_if_assigned() IS NULL AND current_setting('transaction_isolation') = %s"
        return bool(db_session.connection().exec_driver_sql(check, ("read committed",)).scalar())
    return False


def slots_in_use() -> int:
    """Helper connections in use now (tests)."""
    return _in_use


def _take_slot() -> bool:
    global _in_use
    with _lock:
        if _in_use >= get_settings().reports_overlap_connections:
            return False
        _in_use += 1
        return True


def _give_slot() -> None:
    global _in_use
    with _lock:
        _in_use -= 1


def _start(db_session: Session, task: Callable[[Session], T]) -> Future:
    # The engine itself, not a writer's options: a read on SQLite must not BEGIN IMMEDIATE (the write lock).
    engine = db_session.get_bind().engine
    future: Future = Future()

    def work() -> None:
        result, error = None, None
        try:
            with (
                engine.connect().execution_options(**{WRITE_OPTION: False}) as connection,
                Session(bind=connection) as session,
            ):
                result = task(session)
        except BaseException as exc:  # handed to the request's thread, which raises it
            error = exc
        finally:
            _give_slot()
        # Only now, with the connection back in the pool and the slot free, may the request go on.
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        threading.Thread(target=work, name="report-walk", daemon=True).start()
    except BaseException:
        _give_slot()
        raise
    return future


def _wait(future: Future | None) -> object:
    if future is None:
        return None
    exc = future.exception()
    return exc if exc is not None else future.result()
