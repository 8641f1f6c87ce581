"""The whole loop on the store: import labelled tickets, train as a background job, create a ticket, override
its suggestion, retrain on the corrected label, promote, roll back."""

from __future__ import annotations

from itsm_ai.classify.training import jobs
from itsm_ai.classify.training.data import store_training_data
from itsm_ai.registry import store
from tests.api.conftest import assert_error

API = "/api/v1"


def _job(client, headers, job_id):
    assert jobs.wait_for_job(job_id, timeout=300)
    r = client.get(f"{API}/models/jobs/{job_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_train_suggest_override_retrain_promote_rollback(client, users, models_dir, demo_tickets, db_session):
    assert demo_tickets == 400
    ds, agent = users["data_scientist"].headers, users["agent"].headers
    # 1. Train from the tickets in the store, in the background, and promote.
    r = client.post(
        f"{API}/models/train", json={"target": "category", "features": "tfidf", "promote": True}, headers=ds
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("queued", "running", "succeeded")
    job = _job(client, ds, r.json()["id"])
    assert job["status"] == "succeeded", job["message"]
    assert job["version"] == "v0001" and job["progress"] == 1.0 and job["created_by"] == "data_scientist"
    # 2. The evaluation report is in the version's metadata.
    meta = client.get(f"{API}/models/category/versions/v0001", headers=ds).json()
    assert meta["current"] and meta["evaluation"]["macro_f1"] > 0.2
    assert meta["source"]["kind"] == "store" and meta["source"]["labelled"] == 400
    # 3. A new ticket gets suggestions with evidence from the store (ticket numbers).
    r = client.post(
        f"{API}/incidents", json={"short_description": "monitor and keyboard broken"}, headers=agent
    )
    ticket = r.json()
    category = ticket["suggestions"]["fields"]["category"]
    assert category["version"] == "v0001"
    assert category["evidence"][0]["number"].startswith("INC")
    # 4. The agent overrides it.
    url = f"{API}/incidents/{ticket['number']}/suggestions/category/override"
    r = client.post(url, json={"value": "Purchase", "version": ticket["version"]}, headers=agent)
    assert r.status_code == 200, r.text
    # 5. Retraining uses the corrected label (and is not promoted unless asked).
    data = store_training_data(db_session=db_session, target="category")
    assert data.source["feedback_labels"] == 1
    assert data.labels[data.ids.index(ticket["number"])] == "Purchase"
    r = client.post(f"{API}/models/train", json={"target": "category", "features": "tfidf"}, headers=ds)
    job = _job(client, ds, r.json()["id"])
    assert job["status"] == "succeeded" and job["version"] == "v0002", job["message"]
    meta = client.get(f"{API}/models/category/versions/v0002", headers=ds).json()
    assert meta["source"]["feedback_labels"] == 1 and meta["data"]["size"] == 401
    assert not meta["current"]
    # 6. Promote, then roll back.
    r = client.post(f"{API}/models/category/promote", json={"version": "v0002"}, headers=ds)
    assert r.json()["current"] == "v0002"
    r = client.post(f"{API}/incidents", json={"short_description": "printer toner"}, headers=agent)
    assert r.json()["suggestions"]["fields"]["category"]["version"] == "v0002"
    r = client.post(f"{API}/models/category/rollback", headers=ds)
    assert r.json()["current"] == "v0001"
    assert store.current_version("category", models_dir=models_dir) == "v0001"


def test_training_job_failure_is_reported(client, users, models_dir, db):
    ds = users["data_scientist"].headers
    r = client.post(f"{API}/models/train", json={"target": "category", "features": "tfidf"}, headers=ds)
    assert r.status_code == 202
    job = _job(client, ds, r.json()["id"])
    assert job["status"] == "failed" and "need at least 2 values" in job["message"]
    assert job["version"] is None


def test_training_input_errors_name_the_field(client, users, models_dir):
    ds = users["data_scientist"].headers
    assert_error(client.post(f"{API}/models/train", json={"target": "colour"}, headers=ds), 422, "target")
    r = client.post(f"{API}/models/train", json={"target": "category", "features": "gpt"}, headers=ds)
    assert_error(r, 422, "features")
    assert_error(client.post(f"{API}/models/train", json={}, headers=ds), 422, "target")
    assert_error(client.get(f"{API}/models/jobs/12345", headers=ds), 404)
    assert_error(
        client.post(f"{API}/models/train", json={"target": "category"}, headers=users["agent"].headers), 403
    )


def test_unconfirmed_model_values_are_not_training_labels(db_session, trained, triage_settings):
    from itsm_ai.records import service as records
    from itsm_ai.ticket.models import IncidentCreate
    from itsm_ai.ticket.service import INCIDENT

    triage_settings(triage_modes={"category": "auto"})
    texts = [
        "monitor screen broken laptop keyboard replacement hardware",
        "password reset account locked access login",
        "payroll hr portal leave",
    ]
    made = [
        records.create(
            db_session=db_session,
            spec=INCIDENT,
            data=IncidentCreate(short_description=t).model_dump(),
            actor=None,
        )
        for t in texts
    ]
    applied = [t for t in made if t.suggestions["fields"]["category"]["status"] == "applied"]
    assert applied, [t.suggestions["fields"]["category"] for t in made]
    db_session.flush()
    data = store_training_data(db_session=db_session, target="category")
    for ticket in applied:
        assert data.labels[data.ids.index(ticket.number)] is None
    assert data.source["unconfirmed_model_values_skipped"] == len(applied)
