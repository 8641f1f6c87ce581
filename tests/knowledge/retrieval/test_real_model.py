"""One end-to-end check with the real all-MiniLM-L6-v2 encoder: paraphrases find the resolved ticket, and a
reworded report of an open incident is flagged as its duplicate."""

from __future__ import annotations

import pytest

from itsm_ai.knowledge.retrieval import service as retrieval
from tests.knowledge.helpers import API, OUTLOOK, PRINTER, VPN, api_incident, api_resolved, similar


@pytest.mark.slow
def test_real_model_similar_and_duplicate(db, knowledge_settings, client, users, encoder):
    from itsm_ai.engine import install

    install()
    service = retrieval.RetrievalService(encoder=encoder, settings=knowledge_settings)
    retrieval.reset_service(service)
    try:
        agent = users["agent"].headers
        fixed = {
            name: api_resolved(client, agent, t) for name, t in (("p", PRINTER), ("v", VPN), ("o", OUTLOOK))
        }
        items = similar(client, agent, "my documents won't come out of the printer", k=3).json()["items"]
        assert items[0]["number"] == fixed["p"]["number"] and items[0]["suggested_fix"] == PRINTER[2]
        items = similar(client, agent, "remote access keeps disconnecting", k=3, mode="dense").json()["items"]
        assert items[0]["number"] == fixed["v"]["number"]

        open_one = api_incident(
            client, agent, "Shared drive S: not accessible", "Cannot open the S: network drive"
        )
        dup = api_incident(client, agent, "S: shared drive not accessible", "Can't open the network drive S:")
        assert dup["suggestions"]["duplicate"]["number"] == open_one["number"]
        status = service.status()
        assert status["model_name"] == "all-MiniLM-L6-v2" and status["dimension"] == 384
        r = client.get(f"{API}/incidents/{dup['number']}/similar", headers=agent, params={"state": ["new"]})
        assert r.json()["items"][0]["number"] == open_one["number"]
    finally:
        retrieval.reset_service(None)
