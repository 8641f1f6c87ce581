"""Several API processes and worker processes on one PostgreSQL: a write through one is found through the
others within a second, a training job runs in a worker, survives an API restart and a kill -9 of its worker
and is done exactly once, and the model it promoted is served by every API process."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from itsm_ai.classify.models import TrainingJob
from itsm_ai.database import get_session
from tests.scale.conftest import API, login

pytestmark = [pytest.mark.db, pytest.mark.slow]


def _incident(base: str, headers: dict, text: str) -> dict:
    r = httpx.post(f"{base}{API}/incidents", json={"short_description": text}, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()


def _resolve(base: str, headers: dict, ticket: dict, notes: str) -> dict:
    body = {"version": ticket["version"], "state": "resolved", "resolution_code": "solved"}
    body["resolution_notes"] = notes
    r = httpx.patch(f"{base}{API}/incidents/{ticket['number']}", json=body, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def _similar_numbers(base: str, headers: dict, text: str) -> list[str]:
    r = httpx.post(f"{base}{API}/similar", json={"text": text, "k": 5}, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return [item["number"] for item in r.json()["items"]]


def _seconds_until_similar(base: str, headers: dict, text: str, number: str, limit: float = 5.0) -> float:
    """Seconds from now (the write's acknowledgement) to the start of the first search that finds it.

    The start, not the answer: the lag of the index behind the database, not the search's own time on a
    loaded machine."""
    acknowledged = time.monotonic()
    while (sent := time.monotonic()) - acknowledged < limit:
        if number in _similar_numbers(base, headers, text):
            return sent - acknowledged
        time.sleep(0.05)
    return float("inf")


def test_a_ticket_resolved_through_one_api_process_is_similar_through_the_others_within_a_second(
    cluster, accounts
):
    # Looking for other processes' rows by time only every minute: only the commit signal can make it.
    cluster.extra_env["ITSM_KNOWLEDGE_CATCH_UP_SECONDS"] = "60"
    a, b = cluster.start_api("api-a"), cluster.start_api("api-b")
    agent_a, agent_b = login(a.url, "agent"), login(b.url, "agent")
    for base, headers in ((a.url, agent_a), (b.url, agent_b)):
        assert _similar_numbers(base, headers, "warm the index up") == []  # loaded, reconciled, empty
    # A resolved through A is found through B, and one resolved through B through A.
    for (writer, w_headers), (reader, r_headers), words in (
        ((a.url, agent_a), (b.url, agent_b), "quantum flux capacitor overheats in the zebra lab"),
        ((b.url, agent_b), (a.url, agent_a), "marzipan label printer jams on the ninth floor"),
    ):
        ticket = _incident(writer, w_headers, words)
        assert ticket["number"] not in _similar_numbers(reader, r_headers, words)  # not resolved yet
        ticket = _resolve(writer, w_headers, ticket, "replaced the part")
        seconds = _seconds_until_similar(reader, r_headers, words, ticket["number"])
        assert seconds < 1.0, f"{ticket['number']} found through the other process after {seconds:.2f} s"


def test_serve_with_several_workers_answers_from_every_process(cluster, accounts):
    api = cluster.start_api("api", workers=2)
    headers = login(api.url, "agent")
    pids = set()
    for _ in range(40):
        r = httpx.get(f"{api.url}/health", timeout=10)
        assert r.status_code == 200
        ticket = _incident(api.url, headers, "several processes write to one database")
        pids.add(ticket["number"])
    assert len(pids) == 40  # every create acknowledged with its own number: none lost or doubled
    with get_session() as session:
        from itsm_ai.ticket.models import Incident

        stored = set(session.scalars(select(Incident.number)))
    assert pids <= stored


def _job(job_id: int) -> TrainingJob:
    with get_session() as session:
        job = session.get(TrainingJob, job_id)
        session.expunge(job)
    return job


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_training_job_survives_an_api_restart_and_a_killed_worker_and_runs_once(
    cluster, accounts, tmp_path
):
    from itsm_ai.data.importer import import_csv
    from tests.classify.conftest import DEMO_CSV

    report = import_csv(
        path=DEMO_CSV, mapping={"short_description": "Document", "category": "Topic_group"}, skip_bad=True
    )
    assert report.imported == 400
    a = cluster.start_api("api-a")
    ds = login(a.url, "data_scientist")
    r = httpx.post(
        f"{a.url}{API}/models/train",
        json={"target": "category", "features": "tfidf", "promote": True},
        headers=ds,
        timeout=60,
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    # The API process that took the job dies before any worker runs; the job waits in the queue.
    cluster.kill("api-a")
    assert _job(job_id).status == "queued"
    cluster.start_worker("worker-1")
    _wait(lambda: _job(job_id).status == "running", 60, "the first worker to claim the job")
    first = _job(job_id)
    assert first.attempts == 1 and first.claimed_by
    cluster.kill("worker-1")  # kill -9 in the middle of training: no heartbeat any more
    assert _job(job_id).status == "running"
    cluster.start_worker("worker-2")
    cluster.start_worker("worker-3", "--no-periodic")  # a second consumer: must not take the job too
    done = _wait(lambda: (j := _job(job_id)).status in ("succeeded", "failed") and j, 240, "the job to end")
    assert done.status == "succeeded", done.message
    assert done.attempts == 2 and done.claimed_by != first.claimed_by
    assert done.version == "v0001"
    versions = sorted(p.name for p in (tmp_path / "models" / "category").iterdir() if p.is_dir())
    assert versions == ["v0001"]  # trained to the end once: the killed run saved nothing
    # The model the worker promoted is served by every API process (each re-reads CURRENT).
    b, c = cluster.start_api("api-b"), cluster.start_api("api-c")
    for process in (b, c):
        headers = login(process.url, "agent")
        ticket = _incident(process.url, headers, "my laptop screen is broken and needs a replacement")
        assert ticket["suggestions"]["fields"]["category"]["version"] == "v0001", ticket["suggestions"]
