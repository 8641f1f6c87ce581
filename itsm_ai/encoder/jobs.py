"""Encoder jobs on the training-jobs table (same rows, same polling as triage's): train from the store's
pairs and/or a pairs file, or promote a version (its index is built first). `run_encoder_job(job_id)` is a
plain function of the job id, so it can run in a thread here or from a task queue.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import select

from itsm_ai.classify.enums import JobStatus
from itsm_ai.classify.models import TrainingJob
from itsm_ai.classify.training.jobs import register_target
from itsm_ai.database import get_session, utcnow
from itsm_ai.encoder import service
from itsm_ai.encoder.training import Pairs
from itsm_ai.errors import ConflictError, InvalidInputError

log = logging.getLogger(__name__)

TARGET = "encoder"
ACTIONS = ("train", "promote")

_threads: dict[int, threading.Thread] = {}
_threads_lock = threading.Lock()
# One encoder job at a time in this process; the row check below covers other processes.
_start_lock = threading.Lock()


def start_encoder_job(*, params: dict[str, Any], user, run: bool = True) -> int:
    """Queue an encoder job (409 while another one is queued or running) and run it in a thread."""
    action = params.get("action", "train")
    if action not in ACTIONS:
        raise InvalidInputError(f"action: one of {', '.join(ACTIONS)}", field="action")
    with _start_lock, get_session() as session:
        busy = session.scalar(
            select(TrainingJob.id).where(
                TrainingJob.target == TARGET, TrainingJob.status.in_((JobStatus.queued, JobStatus.running))
            ).limit(1)
        )
        if busy is not None:
            raise ConflictError(f"encoder: job {busy} is still running; wait for it", field="target")
        job = TrainingJob(
            target=TARGET,
            status=JobStatus.queued,
            progress=0.0,
            params={**params, "target": TARGET, "action": action},
            created_by_id=getattr(user, "id", None),
            created_by=getattr(user, "username", None),
            created_at=utcnow(),
        )
        session.add(job)
        session.flush()
        job_id = job.id
    if run:
        thread = threading.Thread(
            target=run_encoder_job, args=(job_id,), name=f"encoder-{job_id}", daemon=True
        )
        with _threads_lock:
            _threads[job_id] = thread
        thread.start()
    return job_id


def wait_for_job(job_id: int, timeout: float = 600.0) -> bool:
    """Wait for an encoder job started in this process; True when it finished in time."""
    with _threads_lock:
        thread = _threads.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def _update(job_id: int, **values: Any) -> None:
    with get_session() as session:
        job = session.get(TrainingJob, job_id)
        if job is not None:
            for key, value in values.items():
                setattr(job, key, value)


def run_encoder_job(job_id: int) -> None:
    """Run an encoder job as its row describes, recording progress and the outcome on the row."""
    try:
        with get_session() as session:
            job = session.get(TrainingJob, job_id)
            if job is None:
                return
            params = dict(job.params or {})
            job.status, job.started_at, job.message = JobStatus.running, utcnow(), "starting"
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5 or fraction >= 0.95:
                last[0] = now
                _update(job_id, progress=round(min(fraction, 0.99), 3), message=message[:4000])

        if params["action"] == "promote":
            with get_session() as session:
                result = service.promote(db_session=session, version=params["version"], progress=progress)
            version = params["version"]
            documents = result["index"].get("indexed", "?")
            summary = f"promoted encoder {version}: {documents} documents in its index"
        else:
            version, summary = _train({**params, "job_id": job_id}, progress)
        _update(job_id, status=JobStatus.succeeded, progress=1.0, version=version, message=summary,
                finished_at=utcnow())
    except Exception as exc:  # noqa: BLE001 - the job row must say why it failed
        log.exception("encoder job %s failed", job_id)
        try:
            _update(job_id, status=JobStatus.failed, message=str(exc)[:4000], finished_at=utcnow())
        except Exception:  # noqa: BLE001
            log.exception("could not record the failure of encoder job %s", job_id)
    finally:
        with _threads_lock:
            _threads.pop(job_id, None)


def _train(params: dict[str, Any], progress) -> tuple[str, str]:
    pairs = Pairs([], [], [])
    if params.get("use_store", True):
        progress(0.0, "reading the desk's confirmed pairs")
        with get_session() as session:
            found = service.store_pairs(db_session=session)
        pairs = Pairs(pairs.a + found.a, pairs.b + found.b, pairs.sources + found.sources)
    if params.get("pairs_file"):
        found = service.file_pairs(params["pairs_file"], a_cols=params["a_cols"], b_cols=params["b_cols"])
        pairs = Pairs(pairs.a + found.a, pairs.b + found.b, pairs.sources + found.sources)
    if len(pairs) < 2:
        raise InvalidInputError(
            f"pairs: {len(pairs)} confirmed pairs so far; confirm duplicates or link tickets to articles",
            field="pairs",
        )
    meta = service.train(
        pairs,
        epochs=params.get("epochs"),
        max_seconds=params.get("max_seconds"),
        max_steps=params.get("max_steps"),
        progress=lambda f, m: progress(0.9 * f if params.get("promote") else f, m),
        metadata={"trained_by": params.get("created_by"), "training_job": params.get("job_id")},
    )
    version = meta["version"]
    held = meta["evaluation"]["holdout"]
    summary = f"saved encoder {version} ({meta['training']['steps']} steps on {meta['data']['size']} pairs)"
    if held["pairs"]:
        tuned, base = held["tuned"]["recall@5"], held["base"]["recall@5"]
        summary += f"; held-out recall@5 {tuned:.3f} vs base {base:.3f}"
    if params.get("promote"):
        with get_session() as session:
            service.promote(
                db_session=session, version=version, progress=lambda f, m: progress(0.9 + 0.1 * f, m)
            )
        summary += " and promoted it"
    return version, summary


def _start_from_models_train(*, params: dict[str, Any], user) -> int:
    """POST /models/train with target "encoder": train on the store's pairs (features etc. do not apply)."""
    for key in ("features", "target_precision", "min_class_count"):
        if params.get(key) is not None:
            raise InvalidInputError(f"{key}: does not apply to the encoder", field=key)
    return start_encoder_job(
        params={
            "action": "train", "promote": bool(params.get("promote")), "created_by": params.get("created_by")
        },
        user=user,
    )


register_target(TARGET, _start_from_models_train)
