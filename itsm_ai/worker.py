"""Background jobs (SLA sweeps, webhook deliveries): `itsm-ai worker`, or a thread in the server on SQLite."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable

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
]


def _resolve(target: str) -> Callable[[], object]:
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def run_once() -> dict[str, object]:
    """Run every job once; a failing job is logged and does not stop the others."""
    results: dict[str, object] = {}
    for target in JOBS:
        try:
            results[target] = _resolve(target)()
        except Exception as exc:  # noqa: BLE001 - one broken job must not starve the rest
            log.exception("job %s failed", target)
            results[target] = f"error: {exc}"
    return results


class Worker:
    """Runs the jobs every `interval` seconds until stopped."""

    def __init__(self, interval: float = 5.0):
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_forever(self) -> None:
        """Loop in the current thread until stop() is called."""
        while not self._stop.is_set():
            started = time.monotonic()
            run_once()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run_forever, name="itsm-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to stop and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
