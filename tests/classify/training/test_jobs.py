"""Training jobs on the task queue: claimed once by a conditional UPDATE, kept alive by a heartbeat, queued
again once when their worker died, failed when used up; an API restart leaves them alone."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient

from itsm_ai import taskqueue
from itsm_ai.classify.enums import JobStatus
from itsm_ai.classify.models import TrainingJob
from itsm_ai.classify.training import jobs
from itsm_ai.config import get_settings
from itsm_ai.database import get_session, utcnow

API = "/api/v1"


def _job(status: JobStatus, *, attempts: int = 0, beat_ago: float | None = 3600, claimed_by=None) -> int:
    with get_session() as session:
        job = TrainingJob(
            target="category",
            status=status,
            progress=0.55 if status == JobStatus.running else 0.0,
            message="fitting" if status == JobStatus.running else None,
            params={"target": "category"},
            created_by="data_scientist",
            created_at=utcnow() - timedelta(hours=1),
            attempts=attempts,
            claimed_by=claimed_by,
            heartbeat_at=None if beat_ago is None else utcnow() - timedelta(seconds=beat_ago),
        )
        session.add(job)
        session.flush()
        return job.id


def _row(job_id: int) -> TrainingJob:
    with get_session() as session:
        row = session.get(TrainingJob, job_id)
        session.expunge(row)
    return row


def test_an_api_restart_leaves_queued_and_running_jobs_alone(app, client, users):
    running = _job(JobStatus.running, beat_ago=1, claimed_by="host:1:abc")
    queued = _job(JobStatus.queued, beat_ago=1)
    with TestClient(app) as restarted:
        body = restarted.get(f"{API}/models/jobs/{running}", headers=users["data_scientist"].headers).json()
    assert body["status"] == "running"
    assert _row(queued).status == JobStatus.queued


def test_a_job_is_claimed_exactly_once_by_concurrent_workers(db):
    job_id = _job(JobStatus.queued, beat_ago=0)
    barrier, wins = threading.Barrier(8), []

    def contend(n: int) -> None:
        barrier.wait()
        if jobs.claim(job_id=job_id, worker=f"w{n}"):
            wins.append(n)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    row = _row(job_id)
    assert (row.status, row.claimed_by, row.attempts) == (JobStatus.running, f"w{wins[0]}", 1)
    assert not jobs.claim(job_id=job_id, worker="late")  # running: nobody else takes it


def test_a_job_whose_worker_died_is_queued_again_once_then_failed(db):
    job_id = _job(JobStatus.running, attempts=1, beat_ago=3600, claimed_by="dead:1:x")
    fresh = _job(JobStatus.running, attempts=1, beat_ago=1, claimed_by="alive:2:y")
    before = taskqueue.pending_count()
    assert jobs.recover_job() == {"requeued": [job_id], "failed": []}
    assert taskqueue.pending_count() == before + 1  # one task, however often the sweep runs in the lease
    assert jobs.recover_job() == {"requeued": [], "failed": []}
    row = _row(job_id)
    assert row.status == JobStatus.queued and row.claimed_by is None
    assert row.message == "queued again: its worker stopped"
    assert _row(fresh).status == JobStatus.running  # a live heartbeat is left alone
    # The second worker claims it and dies too: the attempts are used up, the job fails with the reason.
    assert jobs.claim(job_id=job_id, worker="second:3:z")
    later = utcnow() + timedelta(seconds=get_settings().training_lease_seconds + 1)
    assert jobs.recover_job(now=later)["failed"] == [job_id]
    row = _row(job_id)
    assert row.status == JobStatus.failed and row.finished_at is not None
    assert row.message == jobs.GAVE_UP.format(attempts=2)


def test_a_queued_job_whose_task_was_lost_is_queued_again(db):
    job_id = _job(JobStatus.queued, beat_ago=3600)
    taskqueue.queue().flush()
    assert jobs.recover_job()["requeued"] == [job_id]
    assert taskqueue.pending_count() == 1


def test_a_worker_that_lost_its_lease_records_nothing(db):
    job_id = _job(JobStatus.queued, beat_ago=0)
    assert jobs.claim(job_id=job_id, worker="first")
    # The lease ran out and another worker took the job over.
    with get_session() as session:
        session.get(TrainingJob, job_id).claimed_by = "second"
    assert not jobs._update_job(job_id, "first", status=JobStatus.succeeded)
    assert _row(job_id).status == JobStatus.running
    assert jobs._update_job(job_id, "second", progress=0.5)


def test_a_stale_task_of_a_finished_job_does_nothing(db):
    job_id = _job(JobStatus.succeeded, beat_ago=None)
    jobs.run_training_job(job_id)
    row = _row(job_id)
    assert row.status == JobStatus.succeeded and row.attempts == 0
