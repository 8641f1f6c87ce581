"""Background jobs on the task queue (huey): `itsm-ai worker` processes, or threads in the server on SQLite.

The queue's scheduler enqueues each periodic job every `worker_interval_seconds`; worker threads run them and
the work other processes enqueue (training jobs). A periodic job runs in one place at a time
(`single_flight`).
"""

from __future__ import annotations

import logging

from itsm_ai.config import get_settings
from itsm_ai.taskqueue import EmbeddedWorker, consumer, resolve

log = logging.getLogger(__name__)

# "module:function" of each periodic job: no arguments, opens its own sessions, returns a summary.
JOBS: list[str] = [
    "itsm_ai.sla.flows:sweep",
    "itsm_ai.automation.engine:run_scheduled",
    "itsm_ai.webhooks.flows:deliver_pending",
    "itsm_ai.knowledge.retrieval.sync:flush_job",
    "itsm_ai.chat.conversations:abandon_job",
    "itsm_ai.chat.detector:retrain_job",
    "itsm_ai.notification.flows:send_pending",
    "itsm_ai.mail.imap:poll_job",
    "itsm_ai.attachment.flows:sweep_job",
    "itsm_ai.predictions.flows:refresh_job",
    "itsm_ai.classify.training.jobs:recover_job",
]


def run_once() -> dict[str, object]:
    """Run every job once; a failing job is logged and does not stop the others."""
    results: dict[str, object] = {}
    for target in JOBS:
        try:
            results[target] = resolve(target)()
        except Exception as exc:  # noqa: BLE001 - one broken job must not starve the rest
            log.exception("job %s failed", target)
            results[target] = f"error: {exc}"
    return results


def worker_consumer(*, interval: float | None = None, threads: int | None = None, periodic: bool = True):
    """The huey consumer of a worker process: the periodic jobs and the enqueued work."""
    settings = get_settings()
    return consumer(
        periodic_targets=JOBS,
        interval=interval or settings.worker_interval_seconds,
        threads=threads or settings.worker_threads,
        periodic=periodic,
    )


def embedded_worker() -> EmbeddedWorker:
    """The consumer as threads inside the server (the SQLite default needs no separate process)."""
    settings = get_settings()
    return EmbeddedWorker(
        periodic_targets=JOBS, interval=settings.worker_interval_seconds, threads=settings.worker_threads
    )
