"""The task queue (huey): background work enqueued by any process and run by a worker process.

The queue lives where the store does, so there is no broker to run: on PostgreSQL huey's tables in the same
database (claimed with FOR UPDATE SKIP LOCKED, workers woken by LISTEN/NOTIFY) serve every API and worker
process; on the SQLite default a `<database>.tasks` file beside the store, consumed by threads in the server.
A deployment that runs Redis can put the queue there instead (`task_queue_url = redis://host:6379/0`).
Work is named "module:function" and resolved when it runs, so this module knows no feature.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from huey import Huey, MemoryHuey, PostgresHuey, SqliteHuey
from huey.consumer import Consumer, Scheduler
from sqlalchemy import text
from sqlalchemy.engine import make_url

from itsm_ai.config import get_settings
from itsm_ai.database import get_engine

log = logging.getLogger(__name__)

QUEUE_NAME = "itsm-ai"
# Seconds a polling worker waits at most between looks at an empty SQLite queue (PostgreSQL is woken at once).
MAX_POLL_SECONDS = 0.5

_lock = threading.Lock()
_queue: Huey | None = None
_running: set[str] = set()
_running_lock = threading.Lock()


def resolve(target: str) -> Callable[..., object]:
    """The function a "module:function" target names."""
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def run_target(target: str, *args: object) -> object:
    """Huey task: call the target with the arguments it was enqueued with."""
    return resolve(target)(*args)


def _build() -> Huey:
    settings = get_settings()
    url = make_url(settings.task_queue_url or settings.database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            huey: Huey = MemoryHuey(QUEUE_NAME, utc=True, results=False)
        else:
            path = Path(url.database)
            if settings.task_queue_url is None:
                # A file of its own: the queue's writes never wait on the store's write lock.
                path = path.with_name(path.name + ".tasks")
            path.parent.mkdir(parents=True, exist_ok=True)
            huey = SqliteHuey(QUEUE_NAME, filename=str(path), utc=True, results=False, timeout=30)
    elif backend == "postgresql":
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        huey = PostgresHuey(QUEUE_NAME, dsn=dsn, utc=True, results=False)
    elif backend in ("redis", "rediss"):
        # A Redis broker for scale-out (many workers, no polling of the store); needs the `redis` package.
        from huey import RedisHuey

        huey = RedisHuey(QUEUE_NAME, url=url.render_as_string(hide_password=False), utc=True, results=False)
    else:
        raise ValueError(f"task_queue_url: {backend} is not supported (sqlite, postgresql or redis)")
    huey.itsm_run_target = huey.task(name="run_target")(run_target)
    return huey


def queue() -> Huey:
    """The process-wide huey instance, built on first use from the settings."""
    global _queue
    with _lock:
        if _queue is None:
            _queue = _build()
        return _queue


def reset_queue() -> None:
    """Forget the huey instance so the next use re-reads the settings (tests, CLI --database)."""
    global _queue
    with _lock:
        if _queue is not None:
            with contextlib.suppress(Exception):
                _queue.storage.close()
        _queue = None


def enqueue(target: str, *args: object) -> None:
    """Queue a call of `target(*args)` for a worker; committed when this returns."""
    queue().itsm_run_target(target, *args)


def pending_count() -> int:
    """Tasks waiting in the queue."""
    return queue().pending_count()


def run_pending(limit: int = 100) -> int:
    """Run up to `limit` queued tasks in the calling thread (no worker in this process); returns how many."""
    huey, done = queue(), 0
    while done < limit:
        task = huey.dequeue()
        if task is None:
            break
        huey.execute(task)
        done += 1
    return done


@contextlib.contextmanager
def single_flight(name: str) -> Iterator[bool]:
    """Yield True when no other thread or process runs `name` now (then hold it until the block ends).

    In the process a set of running names; on PostgreSQL also a session advisory lock, which the server
    releases when the holder's connection ends, so a worker killed with -9 leaves nothing behind.
    """
    with _running_lock:
        busy = name in _running
        _running.add(name)
    if busy:
        yield False
        return
    try:
        engine = get_engine()
        if engine.dialect.name != "postgresql":
            yield True
            return
        key = zlib.crc32(f"itsm-ai:{name}".encode())
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            try:
                yield bool(got)
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
    finally:
        with _running_lock:
            _running.discard(name)


def _periodic(target: str) -> Callable[[], object]:
    def run() -> object:
        with single_flight(target) as mine:
            if not mine:
                return "skipped: already running"
            try:
                return resolve(target)()
            except Exception:  # noqa: BLE001 - logged here; the next period tries again
                log.exception("periodic job %s failed", target)
                return None

    run.__name__ = "periodic " + target
    run.__module__ = __name__
    return run


def _every_period(_moment) -> bool:
    return True


def register_periodic(huey: Huey, targets: Iterable[str]) -> None:
    """Register each target as a periodic task of `huey` (run every scheduler period); once per instance."""
    registered = {t.name for t in huey._registry.periodic_tasks}
    for target in targets:
        if "periodic " + target not in registered:
            huey.periodic_task(_every_period, name="periodic " + target)(_periodic(target))


def _scheduler_seconds(interval: float) -> int:
    """The scheduler period in whole seconds that divide a minute (huey's rule), nearest to `interval`."""
    factors = [s for s in range(1, 61) if 60 % s == 0]
    return min(factors, key=lambda s: (abs(s - interval), s))


def consumer(*, periodic_targets: Iterable[str], interval: float, threads: int, periodic: bool = True):
    """A huey consumer whose scheduler enqueues the periodic targets every `interval` seconds."""
    huey = queue()
    register_periodic(huey, periodic_targets)
    seconds = _scheduler_seconds(interval)
    # Huey checks periodic tasks once a minute; these jobs run every few seconds, as the old loop did.
    scheduler = type("PeriodicScheduler", (Scheduler,), {"periodic_task_seconds": seconds})
    consumer_class = type("ItsmConsumer", (Consumer,), {"scheduler_class": scheduler})
    return consumer_class(
        huey,
        workers=threads,
        periodic=periodic,
        worker_type="thread",
        scheduler_interval=seconds,
        max_delay=MAX_POLL_SECONDS,
        check_worker_health=False,
    )


class EmbeddedWorker:
    """The consumer's scheduler and worker threads inside the server process (the SQLite default)."""

    def __init__(self, *, periodic_targets: Iterable[str], interval: float, threads: int) -> None:
        self.consumer = consumer(periodic_targets=periodic_targets, interval=interval, threads=threads)

    def start(self) -> None:
        """Start the scheduler and worker threads (no signal handlers: this is not the main thread's loop)."""
        self.consumer.scheduler.start()
        for _, thread in self.consumer.worker_threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the threads to stop and wait for the task each is running."""
        self.consumer.stop_flag.set()
        for thread in [t for _, t in self.consumer.worker_threads] + [self.consumer.scheduler]:
            thread.join(timeout)
