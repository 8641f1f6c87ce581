"""Encoder jobs on the task queue: queued after their row is committed, claimed by exactly one worker, and a
job whose worker died is queued again as an encoder job (never as triage), once per lease."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from itsm_ai import taskqueue
from itsm_ai.classify.enums import JobStatus
from itsm_ai.classify.models import TrainingJob
from itsm_ai.classify.training import jobs as training_jobs
from itsm_ai.database import get_session, utcnow
from itsm_ai.encoder import jobs

USER = type("U", (), {"id": None, "username": "ds"})()


@pytest.fixture
def ran(monkeypatch):
    """The encoder work each run reached (instead of training), by job id."""
    calls: list[int] = []

    def work(job_id, params, progress):
        progress(0.5, "half way")
        calls.append(job_id)
        return "v-test", "trained"

    monkeypatch.setattr(jobs, "_work", work)
    return calls


def _row(job_id: int) -> TrainingJob:
    with get_session() as session:
        row = session.get(TrainingJob, job_id)
        session.expunge(row)
    return row


def _died(job_id: int, *, attempts: int = 1) -> None:
    """The job's worker claimed it an hour ago and stopped beating."""
    with get_session() as session:
        row = session.get(TrainingJob, job_id)
        row.status, row.claimed_by, row.attempts = JobStatus.running, "dead:1:x", attempts
        row.heartbeat_at = utcnow() - timedelta(hours=1)


def test_an_encoder_job_goes_through_the_queue_and_records_its_outcome(db, ran):
    taskqueue.queue().flush()
    job_id = jobs.start_encoder_job(params={"action": "train"}, user=USER)
    assert _row(job_id).status == JobStatus.queued and taskqueue.pending_count() == 1
    assert ran == []  # nothing runs in the API process
    assert taskqueue.run_pending() == 1
    row = _row(job_id)
    assert ran == [job_id]
    assert (row.status, row.version, row.message) == (JobStatus.succeeded, "v-test", "trained")
    assert row.attempts == 1


def test_an_encoder_job_is_run_by_exactly_one_of_concurrent_workers(db, ran):
    job_id = jobs.start_encoder_job(params={"action": "train"}, user=USER, run=False)
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        jobs.run_encoder_job(job_id)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ran == [job_id]
    assert _row(job_id).status == JobStatus.succeeded
    jobs.run_encoder_job(job_id)  # a stale task of a finished job does nothing
    assert ran == [job_id] and _row(job_id).attempts == 1


def test_a_dead_encoder_job_is_queued_again_as_an_encoder_job(db, ran, monkeypatch):
    triage: list[int] = []
    monkeypatch.setattr(training_jobs, "_train_triage", lambda job_id, *a: triage.append(job_id))
    job_id = jobs.start_encoder_job(params={"action": "train"}, user=USER, run=False)
    _died(job_id)
    taskqueue.queue().flush()
    assert training_jobs.recover_job() == {"requeued": [job_id], "failed": []}
    assert training_jobs.recover_job() == {"requeued": [], "failed": []}  # once per lease
    assert _row(job_id).message == "queued again: its worker stopped"
    assert taskqueue.run_pending() == 1
    assert ran == [job_id] and triage == []
    assert _row(job_id).status == JobStatus.succeeded


def test_a_worker_that_lost_an_encoder_job_stops_and_records_nothing(db, monkeypatch):
    job_id = jobs.start_encoder_job(params={"action": "train"}, user=USER, run=False)
    outcome: list[str] = []

    def work(job_id, params, progress):
        with get_session() as session:  # the lease ran out and another worker took the job over
            session.get(TrainingJob, job_id).claimed_by = "second"
        try:
            progress(0.5, "training")
        except training_jobs.LeaseLost:
            outcome.append("stopped")
            raise
        return "v-late", "should not be recorded"

    monkeypatch.setattr(jobs, "_work", work)
    jobs.run_encoder_job(job_id)
    row = _row(job_id)
    assert outcome == ["stopped"] and row.status == JobStatus.running and row.version is None


def test_a_job_row_cannot_name_arbitrary_code_to_recover_with(db):
    with get_session() as session:
        rows = [
            TrainingJob(target=target, status=JobStatus.running, progress=0.0, params=params,
                        created_at=utcnow(), attempts=1, claimed_by="dead",
                        heartbeat_at=utcnow() - timedelta(hours=1))
            for target, params in (
                ("encoder", {}),  # made before encoder jobs were queued: no task
                ("encoder", {"task": "os:system"}),
                ("encoder", {"task": "itsm_ai.taskqueue:reset_queue"}),  # not a training task
            )
        ]
        session.add_all(rows)
        session.flush()
        ids = [r.id for r in rows]
    assert training_jobs.recover_job() == {"requeued": [], "failed": []}
    assert all(_row(i).status == JobStatus.running for i in ids)
