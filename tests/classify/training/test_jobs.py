"""Training jobs across a server restart: jobs a previous process left queued or running end as failed."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from fastapi.testclient import TestClient

from itsm_ai.classify.enums import JobStatus
from itsm_ai.classify.models import TrainingJob
from itsm_ai.classify.training import jobs
from itsm_ai.database import get_session, utcnow

API = "/api/v1"


def _job(status: JobStatus, message: str | None = None) -> int:
    with get_session() as session:
        job = TrainingJob(
            target="category",
            status=status,
            progress=0.55 if status == JobStatus.running else 0.0,
            message=message,
            params={"target": "category"},
            created_by="data_scientist",
            created_at=utcnow() - timedelta(hours=1),
        )
        session.add(job)
        session.flush()
        return job.id


def _jobs() -> dict[int, TrainingJob]:
    with get_session() as session:
        rows = list(session.query(TrainingJob))
        session.expunge_all()
    return {row.id: row for row in rows}


def test_startup_fails_jobs_a_previous_process_left_unfinished(app, caplog):
    running = _job(JobStatus.running, "fitting on 320 rows to evaluate on 80 held-out rows")
    queued = _job(JobStatus.queued)
    done = _job(JobStatus.succeeded, "saved category v0001")
    with caplog.at_level(logging.WARNING, logger="itsm_ai.classify.training.jobs"), TestClient(app):
        pass  # the app's startup ran
    rows = _jobs()
    assert rows[running].status == JobStatus.failed and rows[queued].status == JobStatus.failed
    assert rows[running].message == (
        "interrupted: the server stopped while the job ran "
        "(last step: fitting on 320 rows to evaluate on 80 held-out rows)"
    )
    assert rows[queued].message == "interrupted: the server stopped before the job started"
    assert rows[running].finished_at is not None and rows[queued].finished_at is not None
    assert rows[running].progress == 0.55  # how far it got stays visible
    assert (rows[done].status, rows[done].message, rows[done].finished_at) == (
        JobStatus.succeeded,
        "saved category v0001",
        None,
    )
    logged = [r.getMessage() for r in caplog.records if r.name == "itsm_ai.classify.training.jobs"]
    assert len(logged) == 2 and all("interrupted: the server stopped" in m for m in logged)


def test_after_a_restart_the_api_answers_the_job_as_failed(app, client, users):
    job_id = _job(JobStatus.running, "comparing pipelines by cross-validation")
    ds = users["data_scientist"].headers
    assert client.get(f"{API}/models/jobs/{job_id}", headers=ds).json()["status"] == "running"
    with TestClient(app) as restarted:
        body = restarted.get(f"{API}/models/jobs/{job_id}", headers=ds).json()
    assert body["status"] == "failed" and body["finished_at"] is not None
    assert body["message"].startswith("interrupted: the server stopped while the job ran")


def test_jobs_running_in_this_process_are_left_alone(app, monkeypatch):
    job_id = _job(JobStatus.running, "loading tickets")
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    monkeypatch.setitem(jobs._threads, job_id, thread)
    try:
        assert jobs.fail_interrupted_jobs() == []
    finally:
        release.set()
        thread.join()
    assert _jobs()[job_id].status == JobStatus.running
    monkeypatch.delitem(jobs._threads, job_id)
    assert jobs.fail_interrupted_jobs() == [job_id]
    assert jobs.fail_interrupted_jobs() == []  # already failed: nothing more to do


def test_startup_survives_a_database_without_the_jobs_table(monkeypatch, caplog):
    from sqlalchemy.exc import OperationalError

    def missing_table():
        raise OperationalError("SELECT ... FROM training_jobs", {}, Exception("no such table: training_jobs"))

    monkeypatch.setattr(jobs, "fail_interrupted_jobs", missing_table)
    with caplog.at_level(logging.WARNING, logger="itsm_ai.classify.training.jobs"):
        jobs.on_startup()
    assert "could not check for interrupted training jobs" in caplog.text
