"""The retrieval encoder as a registry model: pairs (store, file), train, evaluate, promote (blue/green),
rollback, challenger and the shadow report.

A version is ``models/encoder/<version>/`` with ``weights/`` (the sentence-transformers folder),
``model.joblib`` (an `EncoderArtifact`), ``pairs.keys`` (a digest per training pair, so evaluations can
leave them out) and ``metadata.json`` (base model, pairs snapshot hash and size, training, evaluation).
Promotion first builds the index of the version's vectors beside the live one
(``encoders.index_directory``), re-embedding every document with progress, and only then moves CURRENT; each
process's retrieval service swaps on its next search.
Rollback moves CURRENT back at once: the old index was kept.
"""

from __future__ import annotations

import csv
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.chat.models import Conversation
from itsm_ai.config import get_settings
from itsm_ai.encoder.training import (
    EncoderArtifact,
    Pairs,
    fine_tune,
    mine_hard_negatives,
    recall_at_k,
    split_holdout,
)
from itsm_ai.errors import InvalidInputError, NotFoundError
from itsm_ai.knowledge.article.models import ArticleTicketLink, KnowledgeArticle
from itsm_ai.knowledge.retrieval.documents import INCIDENT, PROBLEM
from itsm_ai.knowledge.retrieval.encoders import (
    ENCODER_MODEL,
    WEIGHTS_FOLDER,
    encoder_for_version,
    index_directory,
    promoted_encoder_version,
)
from itsm_ai.registry import store
from itsm_ai.ticket.models import Incident, Problem

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
KEYS_FILE = "pairs.keys"
PROMOTE_FLOW = "itsm-ai encoder promote (or POST /models/encoder/promote)"


class PairsError(ValueError):
    """A bad pairs file; names the line and/or column (the CLI exits 2 with it, the API answers 422)."""

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


# ------------------------------------------------------------------------------------------------- pairs


def _text(title: Any, body: Any) -> str:
    """A side of a pair as the index embeds a record: title, newline, body."""
    return f"{title or ''}\n{body or ''}".strip()


def file_pairs(path: str | Path, *, a_cols: Sequence[str], b_cols: Sequence[str]) -> Pairs:
    """Pairs from a CSV: the a columns joined (like short + long description) against the b columns."""
    path = Path(path)
    if not a_cols or not b_cols:
        column = "a_col" if not a_cols else "b_col"
        raise PairsError("pairs: name at least one --a-col and one --b-col", column=column)
    try:
        fh = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise PairsError(f"pairs: cannot read {path}: {exc.strerror}") from exc
    a, b = [], []
    with fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        for col in (*a_cols, *b_cols):
            if col not in header:
                raise PairsError(
                    f"pairs: no column {col!r} in {path} (has {', '.join(header)})", line=1, column=col
                )
        try:
            for row in reader:
                left = _text(row[a_cols[0]], "\n".join(row[c] or "" for c in a_cols[1:]))
                right = _text(row[b_cols[0]], "\n".join(row[c] or "" for c in b_cols[1:]))
                if left and right:
                    a.append(left)
                    b.append(right)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise PairsError(f"pairs: line {reader.line_num}: {exc}", line=reader.line_num) from exc
    if len(a) < 2:
        raise PairsError(f"pairs: {path} holds {len(a)} usable pairs; at least 2 are needed")
    return Pairs(a, b, ["file"] * len(a))


def store_pairs(*, db_session: Session, limit: int | None = None) -> Pairs:
    """Labelled pairs the desk made, newest first: confirmed duplicates (incident -> its master), tickets
    an article was written from or cites (ticket -> article), chat questions an answer solved (question ->
    the article or resolved ticket, when it was the one answer offered)."""
    found: list[tuple[Any, str, str, str]] = []  # (when, a, b, source)
    master = Incident.__table__.alias("master")
    rows = db_session.execute(
        select(Incident.updated_at, Incident.short_description, Incident.description,
               master.c.short_description, master.c.description)
        .join(master, master.c.id == Incident.duplicate_of_id)
        .where(Incident.duplicate_of_id.is_not(None))
    )
    for when, t1, d1, t2, d2 in rows:
        found.append((when, _text(t1, d1), _text(t2, d2), "duplicate"))
    tickets = {INCIDENT: Incident, PROBLEM: Problem}
    for record_type, model in tickets.items():
        rows = db_session.execute(
            select(ArticleTicketLink.created_at, model.short_description, model.description,
                   KnowledgeArticle.short_description, KnowledgeArticle.text)
            .join(model, model.id == ArticleTicketLink.record_id)
            .join(KnowledgeArticle, KnowledgeArticle.id == ArticleTicketLink.article_id)
            .where(ArticleTicketLink.record_type == record_type, KnowledgeArticle.state == "published")
        )
        for when, t1, d1, t2, d2 in rows:
            found.append((when, _text(t1, d1), _text(t2, d2), "article_source"))
    found.extend(_chat_pairs(db_session))
    found = [f for f in found if f[1] and f[2]]
    found.sort(key=lambda f: (f[0] is not None, f[0]), reverse=True)
    if limit is not None:
        found = found[:limit]
    return Pairs([f[1] for f in found], [f[2] for f in found], [f[3] for f in found])


def _chat_pairs(db_session: Session) -> list[tuple[Any, str, str, str]]:
    """(when, question, answer text, "chat") of conversations the virtual agent's single answer solved."""
    out = []
    numbers: set[tuple[str, str]] = set()
    for conv in db_session.scalars(select(Conversation).where(Conversation.outcome == "deflected")):
        question, solved = None, None
        for msg in conv.messages:
            if msg.role == "user":
                question = msg.text
            elif msg.answers and len(msg.answers) == 1 and msg.answers[0].get("number") and question:
                solved = (question, msg.answers[0], msg.at)
        if solved is not None:
            kind = "article" if solved[1].get("kind") == "knowledge_article" else "ticket"
            numbers.add((kind, solved[1]["number"]))
            out.append((solved[2], solved[0], (kind, solved[1]["number"])))
    texts: dict[tuple[str, str], str] = {}
    wanted_articles = [n for kind, n in numbers if kind == "article"]
    if wanted_articles:
        for number, title, body in db_session.execute(
            select(KnowledgeArticle.number, KnowledgeArticle.short_description, KnowledgeArticle.text)
            .where(KnowledgeArticle.number.in_(wanted_articles))
        ):
            texts[("article", number)] = _text(title, body)
    wanted_tickets = [n for kind, n in numbers if kind == "ticket"]
    for model in (Incident, Problem):
        if wanted_tickets:
            for number, title, body in db_session.execute(
                select(model.number, model.short_description, model.description)
                .where(model.number.in_(wanted_tickets))
            ):
                texts[("ticket", number)] = _text(title, body)
    return [(when, q, texts[ref], "chat") for when, q, ref in out if ref in texts]


# --------------------------------------------------------------------------------------------- registry


def versions() -> list[dict[str, Any]]:
    """Encoder versions with their metadata, CURRENT and challenger marked."""
    current = promoted_encoder_version(get_settings().models_dir)
    challenger = store.get_challenger(ENCODER_MODEL, models_dir=get_settings().models_dir)
    out = []
    for version_id in store.list_versions(ENCODER_MODEL, models_dir=get_settings().models_dir):
        meta = store.read_metadata(ENCODER_MODEL, version_id, models_dir=get_settings().models_dir)
        out.append({**meta, "current": version_id == current, "challenger": version_id == challenger})
    return out


def check_known(version: str) -> str:
    """The version itself when the encoder has it; 422 for a malformed id, 404 for an unknown one."""
    try:
        store.check_version(version)
    except store.RegistryError as exc:
        raise InvalidInputError(f"version: {exc}", field="version") from exc
    if version not in store.list_versions(ENCODER_MODEL, models_dir=get_settings().models_dir):
        raise NotFoundError(f"encoder has no version {version}")
    return version


def trained_keys(version: str | None) -> set[str]:
    """Digests of the pairs a version trained on (empty for the stock model)."""
    if version is None:
        return set()
    path = store.model_dir(ENCODER_MODEL, get_settings().models_dir) / version / KEYS_FILE
    return set(path.read_text(encoding="utf-8").split()) if path.is_file() else set()


def _encode_fn(version: str | None) -> Callable[[Sequence[str]], Any]:
    encoder = encoder_for_version(version, get_settings().models_dir)
    return lambda texts: encoder.encode(list(texts))


def _hard_negatives(pairs: Pairs, encode: Callable[[Sequence[str]], Any]) -> list[str] | None:
    """Each pair's hard negative among the pairs' own texts (`mine_hard_negatives`); None if there is none."""
    corpus = list(dict.fromkeys([*pairs.a, *pairs.b]))
    where = {text: i for i, text in enumerate(corpus)}
    vectors = np.asarray(encode(corpus), dtype=np.float32)
    try:
        return mine_hard_negatives(pairs, corpus, vectors, vectors[[where[t] for t in pairs.a]],
                                   vectors[[where[t] for t in pairs.b]])
    except ValueError:
        return None


def train(
    pairs: Pairs,
    *,
    epochs: int | None = None,
    max_seconds: float | None = None,
    max_steps: int | None = None,
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fine-tune the live encoder's base (the stock model) on the pairs, keep a held-out share for its
    evaluation beside the base's, and save a new registry version (not promoted). Returns its metadata."""
    s = get_settings()
    report = progress or (lambda fraction, message: None)
    train_pairs, held = split_holdout(pairs, s.encoder_holdout_share)
    if len(train_pairs) < 2:
        raise InvalidInputError(f"pairs: {len(pairs)} pairs leave {len(train_pairs)} to train on; need 2+",
                                field="pairs")
    from itsm_ai.embeddings import BUNDLED_MODEL, model_folder

    base = encoder_for_version(None)
    base_folder = model_folder(s.embedding_model, s.embedding_model_path) if s.knowledge_encoder == "model" \
        else model_folder(BUNDLED_MODEL)
    negatives = None
    if s.encoder_train_hard_negatives:
        report(0.01, "mining hard negatives with the base encoder")
        negatives = _hard_negatives(train_pairs, lambda t: base.encode(list(t)))
    work = Path(tempfile.mkdtemp(prefix="encoder-train-"))
    try:
        stats = fine_tune(
            train_pairs,
            base_folder=base_folder,
            out_folder=work / WEIGHTS_FOLDER,
            epochs=epochs or s.encoder_train_epochs,
            batch_size=s.encoder_train_batch_size,
            learning_rate=s.encoder_train_learning_rate,
            max_seq_length=s.encoder_train_max_seq_length,
            max_seconds=max_seconds or s.encoder_train_max_seconds,
            max_steps=max_steps,
            progress=lambda f, m: report(0.85 * f, m),
            negatives=negatives,
            symmetric=s.encoder_train_symmetric_loss,
            interpolation=s.encoder_train_interpolation,
        )
        report(0.87, "evaluating on held-out pairs")
        from itsm_ai.embeddings import Encoder

        tuned = Encoder(s.embedding_backend, s.embedding_batch_size, model_name="candidate",
                        model_path=work / WEIGHTS_FOLDER)
        evaluation = {
            "holdout": {
                "pairs": len(held),
                "base": recall_at_k(lambda t: base.encode(list(t)), held),
                "tuned": recall_at_k(lambda t: tuned.encode(list(t)), held),
            }
        }
        artifact = EncoderArtifact(
            base_model=str(getattr(base, "model_name", "")),
            base_version=str(getattr(base, "model_version", "")),
            dimension=int(tuned.dimension),
        )
        sources: dict[str, int] = {}
        for source in train_pairs.sources:
            sources[source] = sources.get(source, 0) + 1
        keys = train_pairs.keys()

        def files(folder: Path) -> None:
            shutil.copytree(work / WEIGHTS_FOLDER, folder / WEIGHTS_FOLDER)
            (folder / KEYS_FILE).write_text("\n".join(keys) + "\n", encoding="utf-8")

        meta = {
            **(metadata or {}),
            "data": {**store.data_snapshot(train_pairs.a, train_pairs.b), "sources": sources,
                     "holdout": len(held)},
            "training": stats,
            "evaluation": evaluation,
            "promoted_by": PROMOTE_FLOW,
        }
        report(0.95, "saving the version")
        version = store.save(artifact, name=ENCODER_MODEL, metadata=meta, models_dir=s.models_dir,
                             extra_files=files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return store.read_metadata(ENCODER_MODEL, version, models_dir=s.models_dir)


def evaluate(pairs: Pairs, *, versions: Sequence[str | None]) -> dict[str, Any]:
    """recall@1/5/10 of each version (None: the stock model) on the same pairs."""
    out = {}
    for version in versions:
        if version is not None:
            check_known(version)
        out[version or "stock"] = recall_at_k(_encode_fn(version), pairs)
    return {"pairs": len(pairs), "versions": out}


def build_index(*, db_session: Session, version: str | None, progress: Progress | None = None) -> dict:
    """Embed every indexed record with a version's encoder into that version's own index folder (beside
    the live one), catching up what it already holds; returns the reconcile summary."""
    from itsm_ai.knowledge.retrieval.service import RetrievalService

    s = get_settings()
    encoder = encoder_for_version(version, s.models_dir)
    base = s.knowledge_index_dir or (Path(s.data_dir) / "index")
    builder = RetrievalService(
        encoder=encoder, directory=index_directory(base, version), follow_registry=False
    )

    def step(done: int, total: int) -> None:
        if progress is not None:
            progress(done / total if total else 1.0, f"re-embedded {done}/{total} documents")

    summary = builder.reconcile(db_session, progress=step)
    builder.save()  # even an empty or unchanged index: every process loads it from disk when it switches
    return summary


def promote(*, db_session: Session, version: str, progress: Progress | None = None) -> dict[str, Any]:
    """Build the version's index beside the live one, then make it CURRENT (every process swaps on its next
    search)."""
    s = get_settings()
    check_known(version)
    summary = build_index(db_session=db_session, version=version, progress=progress)
    store.promote(ENCODER_MODEL, version, models_dir=s.models_dir, managed=True)
    _follow_here(db_session)
    return {"current": version, "index": summary}


def rollback(*, db_session: Session | None = None) -> dict[str, Any]:
    """Return to the encoder promoted before (the stock model after the first); its index was kept."""
    s = get_settings()
    try:
        previous = store.rollback(ENCODER_MODEL, models_dir=s.models_dir, to_none=True)
    except store.RegistryError as exc:
        from itsm_ai.errors import ConflictError

        raise ConflictError(f"encoder: {exc}") from exc
    _follow_here(db_session)
    return {"current": previous}


def _follow_here(db_session: Session | None) -> None:
    """This process's retrieval service swaps now rather than on its next search."""
    from itsm_ai.knowledge.retrieval.service import current_service

    service = current_service()
    if service is not None and service.ready:
        service.follow_encoder(db_session)


def set_challenger(version: str | None) -> dict[str, Any]:
    """Name the version the shadow report compares with CURRENT (None stops it)."""
    if version is not None:
        check_known(version)
    store.set_challenger(ENCODER_MODEL, version, models_dir=get_settings().models_dir)
    return {"challenger": version}


def shadow_report(*, db_session: Session, challenger: str | None = None) -> dict[str, Any]:
    """recall@k of the champion (CURRENT, or the stock model) and the challenger on the desk's recent
    confirmed pairs that neither trained on."""
    s = get_settings()
    champion = promoted_encoder_version(s.models_dir)
    if challenger is None:
        challenger = store.get_challenger(ENCODER_MODEL, models_dir=s.models_dir)
    if challenger is not None:
        check_known(challenger)
    seen = trained_keys(champion) | trained_keys(challenger)
    recent = store_pairs(db_session=db_session, limit=s.encoder_shadow_pairs + len(seen))
    fresh = [i for i, key in enumerate(recent.keys()) if key not in seen][: s.encoder_shadow_pairs]
    pairs = recent.subset(fresh)
    report: dict[str, Any] = {
        "pairs": len(pairs),
        "left_out_as_trained_on": sum(1 for key in recent.keys() if key in seen),
        "champion": {"version": champion, **recall_at_k(_encode_fn(champion), pairs)},
        "challenger": None,
    }
    if challenger is not None:
        report["challenger"] = {"version": challenger, **recall_at_k(_encode_fn(challenger), pairs)}
    return report
