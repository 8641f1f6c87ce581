"""Training jobs: a model trained from the store in a background thread of the server, its progress and
outcome kept on a `training_jobs` row so clients can poll it.

The thread dies with the process, so `on_startup` marks the jobs a previous process left queued or running
as failed: otherwise they would say "running" forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from itsm_ai.classify.enums import JobStatus
from itsm_ai.classify.models import TrainingJob
from itsm_ai.classify.training.data import check_target, store_training_data
from itsm_ai.classify.training.trainer import FEATURE_CHOICES, train_model
from itsm_ai.database import get_session, utcnow
from itsm_ai.errors import InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

INTERRUPTED_RUNNING = "interrupted: the server stopped while the job ran"
INTERRUPTED_QUEUED = "interrupted: the server stopped before the job started"

_threads: dict[int, threading.Thread] = {}
_threads_lock = threading.Lock()
# Targets other features train on this table (e.g. "encoder"): target -> start(params=, user=) -> job id.
_other_targets: dict[str, Callable[..., int]] = {}


def register_target(target: str, start: Callable[..., int]) -> None:
    """Let another feature's model be trained through POST /models/train and polled like triage's."""
    _other_targets[target] = start


def start_training_job(*, params: dict[str, Any], user) -> int:
    """Queue a training job (committed at once, so its status can be polled) and run it in a thread."""
    if params["target"] in _other_targets:
        return _other_targets[params["target"]](params=params, user=user)
    check_target(params["target"])
    features = params.get("features")
    if features is not None and features not in FEATURE_CHOICES:
        raise InvalidInputError(f"features: must be one of {', '.join(FEATURE_CHOICES)}", field="features")
    with get_session() as session:
        job = TrainingJob(
            target=params["target"],
            status=JobStatus.queued,
            progress=0.0,
            params=params,
            created_by_id=getattr(user, "id", None),
            created_by=getattr(user, "username", None),
            created_at=utcnow(),
        )
        session.add(job)
        session.flush()
        job_id = job.id
    thread = threading.Thread(target=run_training_job, args=(job_id,), name=f"train-{job_id}", daemon=True)
    with _threads_lock:
        _threads[job_id] = thread
    thread.start()
    return job_id


def get_job(*, db_session: Session, job_id: int) -> TrainingJob:
    """A training job; 404 when there is none with that id."""
    job = db_session.get(TrainingJob, job_id)
    if job is None:
        raise NotFoundError(f"training job {job_id} not found")
    return job


def list_jobs(*, db_session: Session, limit: int = 20) -> list[TrainingJob]:
    """The most recent training jobs, newest first."""
    return list(db_session.scalars(select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit)))


def wait_for_job(job_id: int, timeout: float = 120.0) -> bool:
    """Wait for a job started in this process; True when it finished in time."""
    with _threads_lock:
        thread = _threads.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def _update_job(job_id: int, **values: Any) -> None:
    with get_session() as session:
        job = session.get(TrainingJob, job_id)
        if job is not None:
            for key, value in values.items():
                setattr(job, key, value)


def run_training_job(job_id: int) -> None:
    """Train as a job describes, recording progress and the outcome on the job row."""
    try:
        with get_session() as session:
            job = session.get(TrainingJob, job_id)
            if job is None:
                return
            params = dict(job.params or {})
            job.status, job.started_at, job.message = JobStatus.running, utcnow(), "loading tickets"
        with get_session() as session:
            data = store_training_data(db_session=session, target=params["target"])
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5 or fraction >= 0.95:
                last[0] = now
                _update_job(job_id, progress=round(min(fraction, 0.99), 3), message=message)

        result = train_model(
            data,
            target=params["target"],
            features=params.get("features"),
            target_precision=params.get("target_precision"),
            min_class_count=params.get("min_class_count"),
            promote=bool(params.get("promote")),
            progress=progress,
            metadata={"trained_by": params.get("created_by") or None, "training_job": job_id},
        )
        evaluation = result.metadata.get("evaluation") or {}
        summary = f"saved {result.name} {result.version}" + (" and promoted it" if result.promoted else "")
        if evaluation:
            summary += (
                f"; held-out macro-F1 {evaluation['macro_f1']:.3f}, accuracy {evaluation['accuracy']:.3f}, "
                f"coverage {evaluation['coverage']:.2f}"
            )
        _update_job(
            job_id,
            status=JobStatus.succeeded,
            progress=1.0,
            version=result.version,
            message=summary,
            finished_at=utcnow(),
        )
    except Exception as exc:  # noqa: BLE001 - the job row must say why it failed
        log.exception("training job %s failed", job_id)
        try:
            _update_job(job_id, status=JobStatus.failed, message=str(exc)[:4000], finished_at=utcnow())
        except Exception:  # noqa: BLE001
            log.exception("could not record the failure of training job %s", job_id)
    finally:
        with _threads_lock:
            _threads.pop(job_id, None)


def fail_interrupted_jobs() -> list[int]:
    """Mark jobs left queued or running by a previous server process as failed; returns their ids.

    With several server processes on one database, a restarted process also marks a job a sibling is still
    running; that job's thread then records its real outcome when it ends.
    """
    with _threads_lock:
        alive = set(_threads)  # jobs of this process (a second app in one process) are still running
    unfinished = (JobStatus.queued, JobStatus.running)
    with get_session() as session:
        stmt = select(TrainingJob).where(TrainingJob.status.in_(unfinished)).order_by(TrainingJob.id)
        jobs = [job for job in session.scalars(stmt) if job.id not in alive]
        now = utcnow()
        for job in jobs:
            reason = INTERRUPTED_RUNNING if job.status == JobStatus.running else INTERRUPTED_QUEUED
            last = f" (last step: {job.message})" if job.message else ""
            log.warning("training job %s (%s) was %s: %s", job.id, job.target, job.status, reason)
            job.status, job.message, job.finished_at = JobStatus.failed, f"{reason}{last}"[:4000], now
        return [job.id for job in jobs]


def on_startup() -> None:
    """Server startup: fail the jobs a previous process left behind; never stops the server from starting."""
    try:
        fail_interrupted_jobs()
    except SQLAlchemyError as exc:  # e.g. a database not migrated yet: the API answers it, not startup
        log.warning("could not check for interrupted training jobs: %s", exc)
