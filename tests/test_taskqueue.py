"""The task queue (huey in the store's database): enqueue and run, periodic jobs on the embedded worker, one
run of a periodic job at a time (in the process, and across processes on PostgreSQL)."""

from __future__ import annotations

import threading
import time
import zlib

import pytest
from sqlalchemy import text

from itsm_ai import taskqueue
from itsm_ai.database import get_engine

CALLS: list[tuple[str, tuple]] = []
GATE = threading.Event()


def record(*args: object) -> str:
    """A target the tests enqueue."""
    CALLS.append(("record", args))
    return "done"


def slow() -> None:
    """A periodic target that holds its turn until the test opens the gate."""
    CALLS.append(("slow", ()))
    GATE.wait(10)


@pytest.fixture(autouse=True)
def _calls(db):
    CALLS.clear()
    GATE.clear()
    yield
    GATE.set()


def test_enqueued_work_waits_in_the_queue_until_a_worker_runs_it(db):
    taskqueue.enqueue(f"{__name__}:record", 7, "x")
    assert taskqueue.pending_count() == 1 and CALLS == []
    assert taskqueue.run_pending() == 1
    assert CALLS == [("record", (7, "x"))] and taskqueue.pending_count() == 0


def test_the_queue_is_in_the_store_and_survives_a_new_instance(db):
    taskqueue.enqueue(f"{__name__}:record", 1)
    taskqueue.reset_queue()  # as a restarted process would: nothing kept in memory
    assert taskqueue.pending_count() == 1
    assert taskqueue.run_pending() == 1 and CALLS == [("record", (1,))]


def test_embedded_worker_runs_periodic_jobs_and_enqueued_work(db):
    worker = taskqueue.EmbeddedWorker(periodic_targets=[f"{__name__}:record"], interval=1, threads=2)
    worker.start()
    try:
        taskqueue.enqueue(f"{__name__}:record", "queued")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            periodic_runs = [c for c in CALLS if c == ("record", ())]
            if ("record", ("queued",)) in CALLS and len(periodic_runs) >= 2:
                break
            time.sleep(0.1)
    finally:
        worker.stop()
    assert ("record", ("queued",)) in CALLS
    assert len([c for c in CALLS if c == ("record", ())]) >= 2  # every period, not once a minute


def test_a_periodic_job_never_runs_twice_at_once(db):
    run = taskqueue._periodic(f"{__name__}:slow")
    first = threading.Thread(target=run)
    first.start()
    while ("slow", ()) not in CALLS:
        time.sleep(0.01)
    assert run() == "skipped: already running"
    GATE.set()
    first.join()
    assert CALLS == [("slow", ())]


def test_single_flight_holds_a_postgresql_advisory_lock_other_processes_see(db):
    if get_engine().dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    key = zlib.crc32(b"itsm-ai:job-x")
    with taskqueue.single_flight("job-x") as mine:
        assert mine
        with get_engine().connect() as other:  # another session, as another process would have
            assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar() is False
    with get_engine().connect() as other:
        assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar() is True
        with taskqueue.single_flight("job-x") as mine:
            assert not mine  # held elsewhere: this run is skipped
        other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def test_scheduler_period_is_a_factor_of_a_minute():
    assert [taskqueue._scheduler_seconds(s) for s in (0.2, 1, 5, 7, 45, 600)] == [1, 1, 5, 6, 30, 60]


def test_serve_refuses_several_processes_on_sqlite(db):
    from typer.testing import CliRunner

    from itsm_ai.cli import app

    if db.dialect.name != "sqlite":
        pytest.skip("the refusal is SQLite's")
    result = CliRunner().invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "--workers: more than one API process needs PostgreSQL" in result.output
