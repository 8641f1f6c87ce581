"""Encoder endpoints: data scientists only, bad input named, one encoder job at a time, promote/rollback and
the shadow report over HTTP."""

from __future__ import annotations

import threading

import pytest

from itsm_ai.classify.training.jobs import get_job, wait_for_job
from itsm_ai.database import get_session
from itsm_ai.encoder import jobs
from itsm_ai.encoder.training import pair_key
from tests.knowledge.helpers import PRINTER, VPN, service_incident, service_resolve, service_update

API = "/api/v1/models/encoder"


@pytest.fixture
def ds(users):
    return users["data_scientist"].headers


def _wait(client, headers, job_id: int) -> dict:
    assert wait_for_job(job_id, timeout=60)  # runs the queued task here (no worker in tests)
    return client.get(f"/api/v1/models/jobs/{job_id}", headers=headers).json()


def test_only_data_scientists_and_admins_use_the_encoder_api(client, users, live, fake_version):
    version = fake_version()
    for who in ("requester", "agent"):
        headers = users[who].headers
        assert client.get(API, headers=headers).status_code == 403
        assert client.post(f"{API}/train", headers=headers, json={}).status_code == 403
        assert client.post(f"{API}/promote", headers=headers, json={"version": version}).status_code == 403
        assert client.post(f"{API}/rollback", headers=headers).status_code == 403
        assert client.get(f"{API}/shadow-report", headers=headers).status_code == 403
    assert client.get(API).status_code == 401
    listed = client.get(API, headers=users["admin"].headers).json()
    assert listed["current"] is None and [v["version"] for v in listed["versions"]] == [version]


def test_bad_input_names_the_field(client, ds, live, fake_version):
    fake_version()
    cases = [
        ("post", f"{API}/train", {"epochs": 0}, "epochs"),
        ("post", f"{API}/train", {"max_seconds": -1}, "max_seconds"),
        ("post", f"{API}/train", {"pairs_file": "/etc/passwd"}, "pairs_file"),
        ("post", f"{API}/promote", {"version": "latest"}, "version"),
        ("post", f"{API}/promote", {}, "version"),
        ("put", f"{API}/challenger", {"version": "../x"}, "version"),
        ("post", "/api/v1/models/train", {"target": "encoder", "features": "tfidf"}, "features"),
    ]
    for method, url, body, field in cases:
        response = getattr(client, method)(url, headers=ds, json=body)
        assert response.status_code == 422, (url, body, response.text)
        assert field in response.text, (url, body, response.text)
    assert client.post(f"{API}/promote", headers=ds, json={"version": "v0099"}).status_code == 404
    assert client.put(f"{API}/challenger", headers=ds, json={"version": "v0099"}).status_code == 404
    rolled = client.post(f"{API}/rollback", headers=ds)
    assert rolled.status_code == 409 and "no previously promoted" in rolled.text


def test_training_without_confirmed_pairs_fails_with_a_reason(client, ds, live):
    job = client.post(f"{API}/train", headers=ds, json={"max_seconds": 5})
    assert job.status_code == 202 and job.json()["target"] == "encoder"
    done = _wait(client, ds, job.json()["id"])
    assert done["status"] == "failed" and "confirm duplicates" in done["message"]


def test_one_encoder_job_at_a_time(client, users, ds, live, fake_version):
    version = fake_version()
    user = type("U", (), {"id": None, "username": "x"})()
    queued = jobs.start_encoder_job(params={"action": "train"}, user=user, run=False)
    for url, body in ((f"{API}/train", {}), (f"{API}/promote", {"version": version})):
        response = client.post(url, headers=ds, json=body)
        assert response.status_code == 409 and str(queued) in response.text
    busy = client.post("/api/v1/models/train", headers=ds, json={"target": "encoder"})
    assert busy.status_code == 409


def test_concurrent_starts_queue_exactly_one_job(db, live, fake_version):
    user = type("U", (), {"id": None, "username": "x"})()
    outcomes: list[object] = []
    barrier = threading.Barrier(4)

    def start():
        barrier.wait()
        try:
            outcomes.append(jobs.start_encoder_job(params={"action": "train"}, user=user, run=False))
        except Exception as exc:  # noqa: BLE001 - the losers' errors are what is checked
            outcomes.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = [o for o in outcomes if isinstance(o, int)]
    assert len(started) == 1 and all("still running" in str(o) for o in outcomes if o not in started)


def test_promote_rollback_and_shadow_report_over_http(client, ds, live, fake_version):
    with get_session() as session:
        master = service_incident(session, *PRINTER[:2])
        service_resolve(session, master, PRINTER[2])
        dup = service_incident(session, "printer jobs stuck again", "queue full of jobs on floor 3")
        service_update(session, dup, duplicate_of=master.number)
        vpn = service_incident(session, *VPN[:2])
        other = service_incident(session, "vpn keeps dropping", "tunnel disconnects at home")
        service_update(session, other, duplicate_of=vpn.number)
        trained_on = pair_key(
            "printer jobs stuck again\nqueue full of jobs on floor 3", f"{PRINTER[0]}\n{PRINTER[1]}"
        )
    champion = fake_version()
    challenger = fake_version(keys=[trained_on])
    job = client.post(f"{API}/promote", headers=ds, json={"version": champion})
    assert job.status_code == 202
    done = _wait(client, ds, job.json()["id"])
    assert done["status"] == "succeeded" and done["version"] == champion, done
    assert client.get(API, headers=ds).json()["current"] == champion
    assert live.encoder_version == champion

    assert client.put(f"{API}/challenger", headers=ds, json={"version": challenger}).json() == {
        "challenger": challenger
    }
    report = client.get(f"{API}/shadow-report", headers=ds).json()
    # The pair the challenger trained on is left out: one fresh confirmed pair remains.
    assert report["pairs"] == 1 and report["left_out_as_trained_on"] == 1
    assert report["champion"]["version"] == champion and report["champion"]["n"] == 1
    assert report["challenger"]["version"] == challenger and report["challenger"]["recall@1"] == 1.0

    assert client.post(f"{API}/rollback", headers=ds).json() == {"current": None}
    assert live.encoder_version is None


def test_models_train_with_target_encoder_runs_an_encoder_job(client, ds, live):
    response = client.post("/api/v1/models/train", headers=ds, json={"target": "encoder"})
    assert response.status_code == 202
    done = _wait(client, ds, response.json()["id"])
    assert done["target"] == "encoder" and done["params"]["action"] == "train"
    with get_session() as session:
        assert get_job(db_session=session, job_id=done["id"]).status == "failed"  # no pairs yet
