"""Switching encoders: the new index is built beside the live one, CURRENT moves only then, every process
follows on its next search, vectors of two encoders never share an index, rollback swaps back at once."""

from __future__ import annotations

from itsm_ai.database import get_session
from itsm_ai.encoder import service as encoders
from itsm_ai.knowledge.retrieval import service as retrieval
from itsm_ai.knowledge.retrieval.encoders import index_directory
from itsm_ai.knowledge.retrieval.vector_snapshot import read_snapshot
from tests.knowledge.helpers import OUTLOOK, PRINTER, VPN, service_incident, service_resolve


def _resolved(*tickets):
    with get_session() as session:
        for short, description, fix in tickets:
            service_resolve(session, service_incident(session, short, description), fix)


def _search(text: str):
    with get_session() as session:
        return retrieval.search(db_session=session, text=text, k=3)


def _index_dir(version=None):
    from itsm_ai.config import get_settings

    return index_directory(get_settings().knowledge_index_dir, version)


def test_promotion_builds_beside_the_live_index_then_every_search_switches(live, fake_version, encoder_env):
    _resolved(PRINTER, VPN)
    assert _search("printer queue stuck")[0]["short_description"] == PRINTER[0]
    stock_index = live.index
    assert live.encoder_version is None and stock_index.metadata()["model_version"] == "stock==1"
    version = fake_version()
    live.save()

    progress: list[float] = []
    with get_session() as session:
        built = encoders.build_index(
            db_session=session, version=version, progress=lambda f, m: progress.append(f)
        )
    assert built["embedded"] == 2 and progress[-1] == 1.0
    # Built beside the live one; nothing switched yet.
    assert read_snapshot(_index_dir(version)).meta["model_version"] == f"encoder/{version}==1"
    assert live.index is stock_index and live.encoder_version is None

    with get_session() as session:
        encoders.promote(db_session=session, version=version)
    assert live.encoder_version == version  # this process at once
    assert live.index is not stock_index
    assert live.index.metadata()["model_version"] == f"encoder/{version}==1"
    hits = _search("printer queue stuck")
    assert hits[0]["short_description"] == PRINTER[0]
    # The stock index on disk still holds only stock vectors.
    assert read_snapshot(_index_dir()).meta["model_version"] == "stock==1"


def test_another_process_switches_on_its_next_search(live, fake_version):
    _resolved(PRINTER, OUTLOOK)
    _search("printer")
    other = retrieval.RetrievalService()  # a second server process on the same folders
    other.watermarks.catch_up_seconds = 0.0
    with get_session() as session:
        other.search(session, "outlook", k=2)
    assert other.encoder_version is None
    version = fake_version()
    with get_session() as session:
        encoders.promote(db_session=session, version=version)
    with get_session() as session:
        hits = other.search(session, "outlook password exchange", k=2)
    assert other.encoder_version == version and hits[0]["short_description"] == OUTLOOK[0]
    assert other.index.metadata()["model_version"] == f"encoder/{version}==1"


def test_rollback_swaps_back_at_once_and_catches_up_what_was_written_meanwhile(
    live, fake_version, encoder_env
):
    _resolved(PRINTER)
    _search("printer")
    stock_index = live.index
    version = fake_version()
    with get_session() as session:
        encoders.promote(db_session=session, version=version)
    _resolved(VPN)  # written while the new encoder is live
    assert _search("vpn tunnel drops")[0]["short_description"] == VPN[0]
    stock_calls = encoder_env[None].calls

    assert encoders.rollback()["current"] is None
    assert live.index is stock_index and live.encoder_version is None  # the kept index, no reload
    hits = _search("vpn tunnel drops")
    assert hits[0]["short_description"] == VPN[0]
    # Only the document written meanwhile was embedded again (plus the queries).
    assert live.index.metadata()["model_version"] == "stock==1" and len(live.index) == 2
    assert encoder_env[None].calls - stock_calls <= 3


def test_a_promotion_not_built_first_is_refused_by_the_registry(live, fake_version):
    from itsm_ai.config import get_settings
    from itsm_ai.registry import store

    version = fake_version()
    try:
        store.promote("encoder", version, models_dir=get_settings().models_dir)
    except store.RegistryError as exc:
        assert "itsm-ai encoder promote" in str(exc)
    else:
        raise AssertionError("a plain promote of an encoder version must be refused")
    assert store.current_version("encoder", models_dir=get_settings().models_dir) is None


def test_a_vector_of_the_encoder_swapped_out_is_never_searched_with(live, fake_version, encoder_env):
    _resolved(PRINTER, VPN)
    _search("printer")
    stock = live.encoder
    stale = live.encode("printer queue stuck")
    version = fake_version()
    with get_session() as session:
        encoders.promote(db_session=session, version=version)
    new = encoder_env[version]
    calls = new.calls
    with get_session() as session:
        hits = live.search(session, "printer queue stuck", k=2, vector=stale, vector_encoder=stock)
    assert new.calls == calls + 1  # the text was embedded again with the live encoder
    assert hits[0]["short_description"] == PRINTER[0]


def test_a_new_incident_is_suggested_from_the_live_encoders_index(live, fake_version, encoder_env):
    _resolved(PRINTER, VPN)
    version = fake_version()
    with get_session() as session:
        encoders.promote(db_session=session, version=version)
    with get_session() as session:
        new = service_incident(session, "printer queue stuck", "jobs wait in the print queue")
        similar = new.suggestions["similar"]
    assert similar and similar[0]["short_description"] == PRINTER[0]
    live.flush()
    assert live.index.metadata()["model_version"] == f"encoder/{version}==1" and len(live.index) == 3


def test_searches_keep_being_served_while_the_new_index_is_built(live, fake_version, encoder_env):
    import threading

    _resolved(PRINTER, VPN, OUTLOOK)
    _search("printer")
    version = fake_version()
    slow = encoders.encoder_for_version(version)
    started, release = threading.Event(), threading.Event()
    plain = slow.encode

    def held_encode(texts, **kwargs):
        started.set()
        assert release.wait(10)
        return plain(texts, **kwargs)

    slow.encode = held_encode
    done: list[dict] = []

    def promote():
        with get_session() as session:
            done.append(encoders.promote(db_session=session, version=version))

    worker = threading.Thread(target=promote)
    worker.start()
    try:
        assert started.wait(10)
        # Re-embedding is under way: the live index still answers, with the old encoder.
        assert _search("vpn tunnel drops")[0]["short_description"] == VPN[0]
        assert live.encoder_version is None
    finally:
        release.set()
        worker.join(10)
    assert done and done[0]["current"] == version
    assert _search("vpn tunnel drops")[0]["short_description"] == VPN[0] and live.encoder_version == version
