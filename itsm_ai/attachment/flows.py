"""The orphan sweep as a worker job (at most every `attachment_sweep_interval_minutes`)."""

from __future__ import annotations

import threading
import time

from itsm_ai.attachment import service
from itsm_ai.config import get_settings
from itsm_ai.database import get_session

_last_run = 0.0
_lock = threading.Lock()


def sweep_job() -> dict[str, int] | str:
    """Worker job: remove stored files that never got (or lost) their row, when the interval has passed."""
    global _last_run
    interval = get_settings().attachment_sweep_interval_minutes * 60
    with _lock:
        if time.monotonic() - _last_run < interval and _last_run:
            return "not due"
        _last_run = time.monotonic()
    with get_session() as db_session:
        return service.sweep_orphans(db_session=db_session)
