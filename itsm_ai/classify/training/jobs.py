"""Training jobs: a model trained from the store by a worker process, its progress and outcome kept on a
`training_jobs` row so clients can poll it.

The API enqueues the job on the task queue; a worker claims the row with a conditional UPDATE (queued ->
running, its own name in `claimed_by`) and renews `heartbeat_at` while it trains. A worker killed mid-job
stops renewing: `recover_job` (periodic) puts the job back in the queue once, or fails it after
`training_max_attempts` claims. Every later write of the row names the claimant, so a worker that lost its
lease can neither record an outcome nor keep training.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from itsm_ai.classify.enums import JobStatus
from itsm_ai.classify.models import TrainingJob
from itsm_ai.classify.training.data import TRAINABLE_FIELDS, check_target, store_training_data
from itsm_ai.classify.training.trainer import FEATURE_CHOICES, train_model
from itsm_ai.config import get_settings
from itsm_ai.database import get_session, utcnow
from itsm_ai.errors import InvalidInputError, NotFoundError
from itsm_ai.taskqueue import enqueue, resolve, run_pending

log = logging.getLogger(__name__)

TARGET = "itsm_ai.classify.training.jobs:run_training_job"
GAVE_UP = "interrupted: its worker stopped {attempts} time(s); not retried again"


class LeaseLost(RuntimeError):
    """Another worker claimed the job after this one missed its heartbeats: stop without recording."""


# Targets other features train on this table (e.g. "encoder"): target -> start(params=, user=) -> job id.
_other_targets: dict[str, Callable[..., int]] = {}


def register_target(target: str, start: Callable[..., int]) -> None:
    """Let another feature's model be trained through POST /models/train and polled like triage's."""
    _other_targets[target] = start


def start_training_job(*, params: dict[str, Any], user) -> int:
    """Queue a training job: its row committed at once (so its status can be polled), then the queue task."""
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
            heartbeat_at=utcnow(),
        )
        session.add(job)
        session.flush()
        job_id = job.id
    # Committed before it is queued: a worker never finds the task before the row. Should this enqueue fail,
    # the job stays queued and recover_job queues it again after the lease.
    enqueue(TARGET, job_id)
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


def wait_for_job(job_id: int, timeout: float = 120.0, *, run_here: bool = True) -> bool:
    """Wait until a job has finished; True when it did in time.

    With `run_here` (tests, scripts without a worker) queued tasks are run in the calling thread meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        with get_session() as session:
            status = session.scalar(select(TrainingJob.status).where(TrainingJob.id == job_id))
        if status is None or status in (JobStatus.succeeded, JobStatus.failed):
            return True
        if time.monotonic() >= deadline:
            return False
        if not (run_here and run_pending(limit=1)):
            time.sleep(0.1)


def worker_name() -> str:
    """This worker's name on the rows it claims: host, process and a random part (a pid can be reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]


def claim(*, job_id: int, worker: str, message: str = "loading tickets") -> bool:
    """Take a queued job for `worker` (one conditional UPDATE); False when it is not queued or used up."""
    now = utcnow()
    with get_session() as session:
        result = session.execute(
            update(TrainingJob)
            .where(
                TrainingJob.id == job_id,
                TrainingJob.status == JobStatus.queued,
                TrainingJob.attempts < get_settings().training_max_attempts,
            )
            .values(
                status=JobStatus.running,
                claimed_by=worker,
                heartbeat_at=now,
                attempts=TrainingJob.attempts + 1,
                started_at=now,
                message=message,
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


def _update_job(job_id: int, worker: str, **values: Any) -> bool:
    """Write the row while `worker` holds the job (the heartbeat too); False when it lost it."""
    with get_session() as session:
        result = session.execute(
            update(TrainingJob)
            .where(
                TrainingJob.id == job_id,
                TrainingJob.claimed_by == worker,
                TrainingJob.status == JobStatus.running,
            )
            .values(heartbeat_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


class _Heartbeat:
    """A thread renewing the lease while the job trains; `lost` is set when another worker took the job."""

    def __init__(self, job_id: int, worker: str, every: float) -> None:
        self.job_id, self.worker, self.every = job_id, worker, every
        self.lost, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                if not _update_job(self.job_id, self.worker):
                    self.lost.set()
                    return
            except Exception:  # noqa: BLE001 - a missed beat is retried; the lease allows several
                log.warning("heartbeat of training job %s failed", self.job_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_training_job(job_id: int) -> None:
    """Queue task: claim the job, train as it describes, record progress and the outcome on its row."""
    run_claimed(job_id, _train_triage, first_message="loading tickets")


run_training_job.training_task = True


Progress = Callable[[float, str], None]


def _train_triage(job_id: int, params: dict[str, Any], progress: Progress) -> tuple[str, str]:
    with get_session() as session:
        data = store_training_data(db_session=session, target=params["target"])
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
            f"; held-out macro-F1 {evaluation['macro_f1']:.3f}, "
            f"accuracy {evaluation['accuracy']:.3f}, coverage {evaluation['coverage']:.2f}"
        )
    return result.version, summary


def run_claimed(
    job_id: int,
    work: Callable[[int, dict[str, Any], Progress], tuple[str, str]],
    *,
    first_message: str = "starting",
) -> None:
    """Claim a queued job, run `work(job_id, params, progress) -> (version, summary)` under the lease.

    The heartbeat renews the lease meanwhile; `progress` raises LeaseLost once another worker took the job,
    so a job that lost its lease stops and records nothing. Any feature's training task runs through here.
    """
    worker = worker_name()
    if not claim(job_id=job_id, worker=worker, message=first_message):
        log.info("training job %s is not queued (claimed elsewhere or finished): skipped", job_id)
        return
    lease = get_settings().training_lease_seconds
    with _Heartbeat(job_id, worker, every=max(lease / 4, 0.05)) as heartbeat:
        try:
            with get_session() as session:
                params = dict(session.get(TrainingJob, job_id).params or {})
            last = [0.0]

            def progress(fraction: float, message: str) -> None:
                if heartbeat.lost.is_set():
                    raise LeaseLost(f"training job {job_id} was claimed by another worker")
                now = time.monotonic()
                if now - last[0] >= 0.5 or fraction >= 0.95:
                    last[0] = now
                    if not _update_job(
                        job_id, worker, progress=round(min(fraction, 0.99), 3), message=message[:4000]
                    ):
                        raise LeaseLost(f"training job {job_id} was claimed by another worker")

            if heartbeat.lost.is_set():
                raise LeaseLost(f"training job {job_id} was claimed by another worker")
            version, summary = work(job_id, params, progress)
            _update_job(
                job_id,
                worker,
                status=JobStatus.succeeded,
                progress=1.0,
                version=version,
                message=summary,
                finished_at=utcnow(),
            )
        except LeaseLost:
            log.warning("training job %s: lease lost, stopped without recording", job_id)
        except Exception as exc:  # noqa: BLE001 - the job row must say why it failed
            log.exception("training job %s failed", job_id)
            try:
                _update_job(
                    job_id, worker, status=JobStatus.failed, message=str(exc)[:4000], finished_at=utcnow()
                )
            except Exception:  # noqa: BLE001
                log.exception("could not record the failure of training job %s", job_id)


def task_of(target: str, params: dict[str, Any] | None) -> str | None:
    """The queue task that runs a job row: triage's, or the one another feature recorded in its params.

    Only an itsm_ai function marked `training_task` is accepted, so a row cannot name arbitrary code.
    """
    if target in TRAINABLE_FIELDS:
        return TARGET
    task = (params or {}).get("task")
    if not isinstance(task, str) or not task.startswith("itsm_ai.") or task.count(":") != 1:
        return None
    try:
        func = resolve(task)
    except (ImportError, AttributeError):
        return None
    return task if getattr(func, "training_task", False) else None


def recover_job(*, now=None) -> dict[str, list[int]]:
    """Worker job: queue again the jobs whose worker stopped (or whose task was lost); fail the used-up ones.

    A running job is stale when its heartbeat is older than the lease; a queued one when it waited a lease
    without being claimed (its queue task lost). Each is put back once per lease: the conditional UPDATEs
    here and in `claim` let only one process act on a job at a time.
    """
    settings = get_settings()
    now = now or utcnow()
    stale = now - timedelta(seconds=settings.training_lease_seconds)
    requeued, failed = [], []
    with get_session() as session:
        candidates = list(
            session.execute(
                select(
                    TrainingJob.id,
                    TrainingJob.status,
                    TrainingJob.attempts,
                    TrainingJob.target,
                    TrainingJob.params,
                ).where(
                    TrainingJob.status.in_((JobStatus.queued, JobStatus.running)),
                    or_(TrainingJob.heartbeat_at.is_(None), TrainingJob.heartbeat_at < stale),
                )
            )
        )
    for job_id, status, attempts, target, params in candidates:
        # Each job is re-run by its own feature's task (an encoder job as an encoder job); a row naming none
        # (made before jobs were queued) is left alone.
        task = task_of(target, params)
        if task is None:
            continue
        was_stale = and_(
            TrainingJob.id == job_id,
            TrainingJob.status == status,
            or_(TrainingJob.heartbeat_at.is_(None), TrainingJob.heartbeat_at < stale),
        )
        if attempts >= settings.training_max_attempts:
            values = {
                "status": JobStatus.failed,
                "message": GAVE_UP.format(attempts=attempts),
                "finished_at": now,
                "claimed_by": None,
            }
            outcome = failed
        else:
            values = {"status": JobStatus.queued, "heartbeat_at": now, "claimed_by": None}
            if status == JobStatus.running:
                values["message"] = "queued again: its worker stopped"
            outcome = requeued
        with get_session() as session:
            result = session.execute(
                update(TrainingJob)
                .where(was_stale)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            taken = result.rowcount == 1
        if taken:
            outcome.append(job_id)
            if outcome is requeued:
                enqueue(task, job_id)
            log.warning("training job %s was %s with a stale lease: %s", job_id, status, values["status"])
    return {"requeued": requeued, "failed": failed}
