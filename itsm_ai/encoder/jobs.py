"""Encoder jobs on the training-jobs table and the task queue, like triage's: train from the store's pairs
and/or a pairs file, or promote a version (its index is built first).

The row is committed, then `run_encoder_job` is queued; a worker claims it and keeps the lease alive
(`run_claimed`), and the row's `task` lets `recover_job` re-run a job whose worker died as an encoder job.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import select

from itsm_ai.classify.enums import JobStatus
from itsm_ai.classify.models import TrainingJob
from itsm_ai.classify.training.jobs import register_target, run_claimed
from itsm_ai.database import get_session, utcnow
from itsm_ai.encoder import service
from itsm_ai.encoder.training import Pairs
from itsm_ai.errors import ConflictError, InvalidInputError
from itsm_ai.taskqueue import enqueue

log = logging.getLogger(__name__)

TARGET = "encoder"
TASK = "itsm_ai.encoder.jobs:run_encoder_job"
ACTIONS = ("train", "promote")

# One encoder job at a time in this process; the row check below covers other processes.
_start_lock = threading.Lock()


def start_encoder_job(*, params: dict[str, Any], user, run: bool = True) -> int:
    """Queue an encoder job (409 while another one is queued or running) on the task queue."""
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
            params={**params, "target": TARGET, "action": action, "task": TASK},
            created_by_id=getattr(user, "id", None),
            created_by=getattr(user, "username", None),
            created_at=utcnow(),
            heartbeat_at=utcnow(),
        )
        session.add(job)
        session.flush()
        job_id = job.id
    # Committed before it is queued (a worker never finds the task before the row); should this enqueue
    # fail, the job stays queued and recover_job queues it again after the lease.
    if run:
        enqueue(TASK, job_id)
    return job_id


def run_encoder_job(job_id: int) -> None:
    """Queue task: claim the encoder job, run it as its row describes, record progress and the outcome."""
    run_claimed(job_id, _work)


run_encoder_job.training_task = True


def _work(job_id: int, params: dict[str, Any], progress) -> tuple[str, str]:
    if params["action"] == "promote":
        with get_session() as session:
            result = service.promote(db_session=session, version=params["version"], progress=progress)
        documents = result["index"].get("indexed", "?")
        return params["version"], f"promoted encoder {params['version']}: {documents} documents in its index"
    return _train({**params, "job_id": job_id}, progress)


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
