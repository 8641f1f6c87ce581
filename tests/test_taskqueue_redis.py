"""The task queue on Redis (`task_queue_url = redis://...`, issue 13's scale-out option): enqueue in one
instance, run from another, and the embedded worker consumes it. Skipped when no Redis answers on
127.0.0.1:6379."""

from __future__ import annotations

import socket
import time

import pytest

from itsm_ai import taskqueue
from itsm_ai.config import get_settings

REDIS_URL = "redis://127.0.0.1:6379/13"
CALLS: list[tuple] = []


def record(*args: object) -> None:
    """A target the tests enqueue."""
    CALLS.append(args)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_queue(db, monkeypatch):
    pytest.importorskip("redis")
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    monkeypatch.setattr(get_settings(), "task_queue_url", REDIS_URL)
    taskqueue.reset_queue()
    taskqueue.queue().flush()
    CALLS.clear()
    yield taskqueue.queue()
    taskqueue.queue().flush()
    taskqueue.reset_queue()


def test_a_redis_url_puts_the_queue_in_redis_and_another_instance_runs_it(redis_queue):
    from huey import RedisHuey

    assert isinstance(redis_queue, RedisHuey)
    taskqueue.enqueue(f"{__name__}:record", 3, "x")
    taskqueue.reset_queue()  # another process: nothing shared in memory
    assert taskqueue.pending_count() == 1 and CALLS == []
    assert taskqueue.run_pending() == 1
    assert CALLS == [(3, "x")] and taskqueue.pending_count() == 0


def test_the_embedded_worker_consumes_the_redis_queue(redis_queue):
    worker = taskqueue.EmbeddedWorker(periodic_targets=[], interval=1, threads=1)
    worker.start()
    try:
        taskqueue.enqueue(f"{__name__}:record", "queued")
        deadline = time.monotonic() + 10
        while CALLS != [("queued",)] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert CALLS == [("queued",)]


def test_an_unknown_queue_scheme_is_refused(db, monkeypatch):
    monkeypatch.setattr(get_settings(), "task_queue_url", "mysql://127.0.0.1/q")
    taskqueue.reset_queue()
    try:
        with pytest.raises(ValueError, match="sqlite, postgresql or redis"):
            taskqueue.queue()
    finally:
        taskqueue.reset_queue()
