"""Pairs (file and store), batching, recall@k, the held-out split, and one real fine-tuning step (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from itsm_ai.encoder import service
from itsm_ai.encoder.training import Pairs, _batches, mine_hard_negatives, recall_at_k, split_holdout

PAIRS_CSV = (
    "title_dup,description_dup,title_master,description_master\n"
    "printer jam,paper stuck on floor 3,paper jam in printer,clear the tray\n"
    "vpn drops,tunnel disconnects hourly,vpn disconnects,update the client\n"
    "outlook offline,cannot reach exchange,mail client disconnected,rebuild the profile\n"
    "password expired,cannot log in,reset password,self service portal\n"
    "laptop slow,takes ages to boot,slow computer,remove startup apps\n"
    "wifi weak,signal drops in room 2,wireless coverage,add an access point\n"
)
COLS = ["--a-col", "title_dup", "--a-col", "description_dup", "--b-col", "title_master", "--b-col",
        "description_master"]


@pytest.fixture
def pairs_csv(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(PAIRS_CSV, encoding="utf-8")
    return path


def test_file_pairs_join_columns_and_name_bad_columns(pairs_csv, tmp_path):
    pairs = service.file_pairs(pairs_csv, a_cols=["title_dup", "description_dup"], b_cols=["title_master"])
    assert len(pairs) == 6 and pairs.a[0] == "printer jam\npaper stuck on floor 3"
    assert pairs.b[0] == "paper jam in printer"
    with pytest.raises(service.PairsError, match="no column 'nope'") as err:
        service.file_pairs(pairs_csv, a_cols=["nope"], b_cols=["title_master"])
    assert err.value.column == "nope" and err.value.line == 1
    with pytest.raises(service.PairsError, match="cannot read"):
        service.file_pairs(tmp_path / "missing.csv", a_cols=["a"], b_cols=["b"])
    short = tmp_path / "short.csv"
    short.write_text("a,b\nx,y\n", encoding="utf-8")
    with pytest.raises(service.PairsError, match="at least 2"):
        service.file_pairs(short, a_cols=["a"], b_cols=["b"])


def test_batches_never_repeat_a_text_and_cover_every_pair():
    pairs = Pairs([f"q{i}" for i in range(10)], ["same"] * 3 + [f"d{i}" for i in range(7)])
    batches = list(_batches(pairs, 4, np.random.default_rng(0)))
    assert sorted(i for b in batches for i in b) == list(range(10))
    for batch in batches[:-1]:
        assert len({pairs.b[i] for i in batch}) == len(batch)


def test_length_buckets_pad_less_and_keep_every_pair_and_the_no_repeat_rule():
    rng = np.random.default_rng(1)
    lengths = rng.integers(10, 128, size=200)
    pairs = Pairs([f"q{i}" for i in range(200)], ["same"] * 4 + [f"d{i}" for i in range(196)])

    def padded(batches) -> int:  # tokens a step computes: every text padded to its batch's longest
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    plain = list(_batches(pairs, 16, np.random.default_rng(0)))
    bucketed = list(_batches(pairs, 16, np.random.default_rng(0), lengths=lengths))
    assert sorted(i for b in bucketed for i in b) == list(range(200))
    for batch in bucketed:
        assert len({pairs.b[i] for i in batch}) == len(batch)
    assert padded(bucketed) < 0.8 * padded(plain)
    again = list(_batches(pairs, 16, np.random.default_rng(0), lengths=lengths))
    assert again == bucketed  # fixed by the seed
    assert list(_batches(pairs, 16, np.random.default_rng(5), lengths=lengths)) != bucketed  # reshuffled


def test_recall_at_k_ranks_each_match_among_all_matches():
    vectors = {"a1": [1, 0, 0], "a2": [0, 1, 0], "b1": [1, 0, 0], "b2": [0.6, 0.8, 0], "x": [0, 0.9, 0.1]}

    def encode(texts):
        out = np.array([vectors[t] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    result = recall_at_k(encode, Pairs(["a1", "a2"], ["b1", "b2"]), extra_corpus=["x"], ks=(1, 2))
    # a1 -> b1 first; a2 -> x beats b2, so b2 is second.
    assert result == {"n": 2, "recall@1": 0.5, "recall@2": 1.0}
    assert recall_at_k(encode, Pairs([], []))["recall@1"] is None


def test_holdout_split_is_fixed_by_the_pair():
    pairs = Pairs([f"q{i}" for i in range(200)], [f"d{i}" for i in range(200)])
    train, held = split_holdout(pairs, 0.2)
    again_train, again_held = split_holdout(pairs, 0.2)
    assert held.a == again_held.a and 20 < len(held) < 60 and len(train) + len(held) == 200
    assert not set(train.a) & set(held.a)
    assert len(split_holdout(pairs, 0.0)[1]) == 0


def test_store_pairs_read_duplicates_article_sources_and_solved_chats(db, live):
    from itsm_ai.auth import service as auth
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role
    from itsm_ai.chat.models import Conversation, Message
    from itsm_ai.database import get_session
    from itsm_ai.knowledge.article.models import ArticleTicketLink, KnowledgeArticle
    from tests.knowledge.helpers import service_incident, service_update

    with get_session() as session:
        master = service_incident(session, "printer jam", "paper stuck")
        dup = service_incident(session, "printer stuck again", "paper jam floor 3")
        service_update(session, dup, duplicate_of=master.number)
        source = service_incident(session, "vpn drops", "tunnel disconnects")
        article = KnowledgeArticle(number="KB0000001", short_description="Fix VPN drops", text="Use IKEv2.",
                                   state="published")
        session.add(article)
        session.flush()
        session.add(ArticleTicketLink(article_id=article.id, record_type="incident", record_id=source.id,
                                      number=source.number))
        user_in = UserCreate(username="u1", role=Role.requester, password="correct-horse-battery")
        user = auth.create(db_session=session, user_in=user_in, actor=None)
        conv = Conversation(user_id=user.id, outcome="deflected", state="deflected")
        conv.messages = [
            Message(role="user", text="my vpn keeps dropping"),
            Message(role="assistant", text="Here is what I found", answers=[
                {"kind": "knowledge_article", "number": "KB0000001"}]),
            Message(role="user", text="yes"),
        ]
        unsolved = Conversation(user_id=user.id, outcome="incident", state="incident")
        unsolved.messages = [Message(role="user", text="printer"), Message(
            role="assistant", text="x", answers=[{"kind": "knowledge_article", "number": "KB0000001"}])]
        session.add_all([conv, unsolved])
    with get_session() as session:
        pairs = service.store_pairs(db_session=session)
    got = sorted(zip(pairs.sources, pairs.a, pairs.b, strict=True))
    assert got == [
        ("article_source", "vpn drops\ntunnel disconnects", "Fix VPN drops\nUse IKEv2."),
        ("chat", "my vpn keeps dropping", "Fix VPN drops\nUse IKEv2."),
        ("duplicate", "printer stuck again\npaper jam floor 3", "printer jam\npaper stuck"),
    ]
    with get_session() as session:
        assert len(service.store_pairs(db_session=session, limit=2)) == 2


def test_cli_refuses_bad_pairs_options(pairs_csv):
    from itsm_ai.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["train", "--target", "encoder", "--pairs", str(pairs_csv), "--a-col", "nope",
                                 "--b-col", "title_master"])
    assert result.exit_code == 2 and "nope" in result.output
    result = runner.invoke(app, ["train", "--target", "category", "--pairs", str(pairs_csv)])
    assert result.exit_code == 2 and "--target encoder" in result.output


@pytest.mark.slow
def test_cli_trains_a_real_encoder_step_and_promotes_it_with_its_index(db, pairs_csv, tmp_path, monkeypatch):
    """The real model: one training step on the pairs file, saved, evaluated, promoted once indexed."""
    from itsm_ai.cli import app
    from itsm_ai.config import get_settings
    from itsm_ai.knowledge.retrieval.encoders import encoder_for_version, index_directory
    from itsm_ai.knowledge.retrieval.vector_snapshot import read_snapshot
    from itsm_ai.registry import store

    settings = get_settings()
    monkeypatch.setattr(settings, "models_dir", tmp_path / "models")
    monkeypatch.setattr(settings, "knowledge_index_dir", tmp_path / "index")
    monkeypatch.setattr(settings, "knowledge_encoder", "model")
    monkeypatch.setattr(settings, "encoder_holdout_share", 0.34)
    monkeypatch.setattr(settings, "encoder_train_interpolation", 0.5)
    monkeypatch.setattr(settings, "encoder_train_symmetric_loss", True)
    result = CliRunner().invoke(
        app,
        ["train", "--target", "encoder", "--pairs", str(pairs_csv), *COLS, "--max-steps", "1", "--promote",
         "--json"],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout[result.stdout.index("{"):])
    version = meta["version"]
    assert meta["promoted"] and meta["training"]["steps"] == 1
    assert meta["training"]["interpolation"] == 0.5 and meta["training"]["symmetric_loss"]
    assert meta["data"]["size"] + meta["data"]["holdout"] == 6
    assert meta["kind"] == "sentence-encoder" and meta["base_model"] == "all-MiniLM-L6-v2"
    assert len(meta["data"]["sha256"]) == 64 and meta["evaluation"]["holdout"]["tuned"]["n"] >= 1
    folder = settings.models_dir / "encoder" / version
    assert (folder / "weights" / "config.json").is_file() and (folder / "pairs.keys").is_file()
    assert store.current_version("encoder", models_dir=settings.models_dir) == version
    encoder = encoder_for_version(version, settings.models_dir)
    snapshot = read_snapshot(index_directory(settings.knowledge_index_dir, version))
    assert snapshot.meta["model_version"] == encoder.model_version and encoder.dimension == 384
    stock = encoder_for_version(None)
    vectors = encoder.encode(["printer jam"]), stock.encode(["printer jam"])
    assert not np.allclose(*vectors)  # the weights moved


def test_batches_keep_hard_negatives_apart_from_the_batch_texts():
    pairs = Pairs([f"q{i}" for i in range(12)], [f"d{i}" for i in range(12)])
    negatives = [f"d{(i + 1) % 12}" for i in range(12)]  # each negative is another pair's match
    batches = list(_batches(pairs, 4, np.random.default_rng(0), lengths=np.arange(12), negatives=negatives))
    assert sorted(i for b in batches for i in b) == list(range(12))
    for batch in batches:
        texts = [t for i in batch for t in (pairs.a[i], pairs.b[i], negatives[i])]
        assert len(set(texts)) == len(texts)


def test_mined_negatives_skip_the_pair_its_linked_duplicates_and_near_copies():
    corpus = ["q1", "m1", "q2", "other", "near", "far"]
    vectors = np.array(
        [[1, 0, 0], [0.95, 0.31, 0], [0.98, 0.2, 0], [0.9, 0, 0.44], [0.99, 0.14, 0], [0, 0, 1]],
        dtype=np.float32,
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    at = {t: i for i, t in enumerate(corpus)}
    # q1 and q2 are both duplicates of m1: q2 is no negative of q1; "near" scores above q1's own match.
    pairs = Pairs(["q1", "q2"], ["m1", "m1"])
    rows_a, rows_b = [at[t] for t in pairs.a], [at[t] for t in pairs.b]
    got = mine_hard_negatives(pairs, corpus, vectors, vectors[rows_a], vectors[rows_b], max_ratio=0.95)
    assert got[0] == "other"
    assert got[1] not in ("q1", "q2", "m1")
    # With no guard the nearest non-positive text is taken.
    unguarded = mine_hard_negatives(pairs, corpus, vectors, vectors[rows_a], vectors[rows_b], max_ratio=10)
    assert unguarded[0] == "near"


def test_service_mines_negatives_among_the_pairs_texts():
    words = ["printer", "paper", "vpn", "tunnel", "mail", "outlook"]

    def encode(texts):  # bag of words: texts sharing a word are near
        out = np.array([[w in t for w in words] for t in texts], dtype=np.float32) + 0.01
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    pairs = Pairs(["printer jam", "vpn drops", "outlook offline"],
                  ["paper stuck printer", "tunnel vpn down", "mail down"])
    negatives = service._hard_negatives(pairs, encode)
    assert negatives is not None and len(negatives) == 3
    for a, b, n in zip(pairs.a, pairs.b, negatives, strict=True):
        assert n not in (a, b)
    assert service._hard_negatives(Pairs(["a"], ["b"]), encode) is None  # nothing else to pick
