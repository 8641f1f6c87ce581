"""What a create costs the retrieval service: one embedding per new text, no BM25 rebuild for an unresolved
ticket, and the vector cache that makes both possible."""

from __future__ import annotations

import numpy as np

from itsm_ai.embeddings import VectorCache
from itsm_ai.knowledge.retrieval.documents import RESOLVED_STATES, make_key
from tests.knowledge.helpers import PRINTER, VPN, service_incident, service_resolve


class Counting:
    """Wraps an encoder and records every text it embeds."""

    def __init__(self, inner, name: str = "counting"):
        self.inner = inner
        self.model_name, self.model_version, self.dimension = name, "1", inner.dimension
        self.texts: list[str] = []

    def encode(self, texts, **kwargs):
        self.texts.extend(texts)
        return self.inner.encode(texts)


def test_vector_cache_reuses_bounds_and_separates_models(hash_encoder):
    enc = Counting(hash_encoder)
    cache = VectorCache(maxsize=2)
    first = cache.encode(enc, ["printer jammed", "vpn drops"])
    again = cache.encode(enc, ["vpn drops", "printer jammed"])
    assert enc.texts == ["printer jammed", "vpn drops"]
    np.testing.assert_allclose(again, first[::-1])
    np.testing.assert_allclose(first, hash_encoder.encode(["printer jammed", "vpn drops"]))
    cache.encode(enc, ["outlook password"])  # evicts the least recently used ("vpn drops")
    assert len(cache) == 2
    cache.encode(enc, ["vpn drops"])
    assert enc.texts.count("vpn drops") == 2
    other = Counting(hash_encoder, name="other-model")
    cache.encode(other, ["outlook password"])
    assert other.texts == ["outlook password"]
    cache.encode(enc, ["not kept"], store=False)
    cache.encode(enc, ["not kept"], store=False)
    assert enc.texts.count("not kept") == 2


def test_a_created_ticket_is_embedded_once(svc, db_session, hash_encoder):
    service_resolve(db_session, service_incident(db_session, *PRINTER[:2]), PRINTER[2])
    svc.ensure_ready(db_session)
    svc.flush()
    svc.switch.encoder = enc = Counting(hash_encoder)
    inc = service_incident(db_session, *VPN[:2])
    text = f"{VPN[0]}\n{VPN[1]}"
    assert enc.texts == [text]  # the on-create similar/duplicate search
    svc.flush()  # indexing the committed ticket reuses that vector
    assert enc.texts == [text]
    assert make_key("incident", inc.id) in svc.index
    np.testing.assert_allclose(svc.vector_of("incident", inc.id), hash_encoder.encode([text])[0], rtol=1e-5)


def test_an_unresolved_ticket_does_not_rebuild_bm25_for_resolved_searches(svc, db_session):
    service_resolve(db_session, service_incident(db_session, *PRINTER[:2]), PRINTER[2])
    svc.search(db_session, PRINTER[0], states=RESOLVED_STATES)
    rebuilds = svc.lexical.index.rebuilds
    inc = service_incident(db_session, *VPN[:2])
    assert svc.search(db_session, VPN[0], states=RESOLVED_STATES, mode="lexical") == []
    assert svc.lexical.index.rebuilds == rebuilds
    assert svc.status()["lexical_documents"] == 2
    # A search that can return open tickets takes the waiting entries in first.
    found = svc.search(db_session, VPN[0], states=["new"], mode="lexical")
    assert [i["number"] for i in found] == [inc.number]
    # Resolving it (same text: no re-embedding) makes it a lexical hit of resolved searches too.
    service_resolve(db_session, service_incident(db_session, "Monitor flickers", "screen flickers"), "cable")
    resolved = svc.search(db_session, "screen flickers", states=RESOLVED_STATES, mode="lexical")
    assert [i["short_description"] for i in resolved] == ["Monitor flickers"]


def test_major_incident_notes_are_written_in_one_batch_without_edits(svc, db_session):
    from itsm_ai.knowledge.flows import write_suggestions_many

    a = service_incident(db_session, *PRINTER[:2])
    b = service_incident(db_session, *VPN[:2])
    before = {m.id: (m.version, m.updated_at, dict(m.suggestions or {})) for m in (a, b)}
    write_suggestions_many(db_session, [a, b], major_incident={"incidents": [a.number, b.number]})
    db_session.commit()
    for m in (a, b):
        db_session.refresh(m)
        version, updated_at, old = before[m.id]
        assert (m.version, m.updated_at) == (version, updated_at)
        assert m.suggestions == {**old, "major_incident": {"incidents": [a.number, b.number]}}
