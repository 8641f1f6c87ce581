"""Index documents of tickets and published articles: keys, the embedded text and payload, payload filters,
and search hits read back from the database as result items.

Keys are ``type code << 40 | record id``. A payload carries the record's type, state, category, opening time
(epoch seconds) and a hash of the embedded text, so a restart (or a search hit) can tell what changed; a
confirmed duplicate's payload also names its master's key (``duplicate_of``), so a search can list the master
instead without reading the database (``duplicates``). A change of the link alone changes the payload, not
the hash: the vector stays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.base.states import ArticleState
from itsm_ai.knowledge.article.models import KnowledgeArticle
from itsm_ai.ticket.models import Incident, Problem

INCIDENT, PROBLEM, ARTICLE = "incident", "problem", "knowledge_article"
TYPE_CODES = {INCIDENT: 1, PROBLEM: 2, ARTICLE: 3}
CODE_TYPES = {v: k for k, v in TYPE_CODES.items()}
MODELS: dict[str, type] = {INCIDENT: Incident, PROBLEM: Problem, ARTICLE: KnowledgeArticle}
PATHS = {INCIDENT: "incidents", PROBLEM: "problems", ARTICLE: "knowledge"}
TICKET_TYPES = (INCIDENT, PROBLEM)
RESOLVED_STATES = ("resolved", "closed")
OPEN_STATES = ("new", "in_progress", "on_hold")
NOT_INDEXED_STATES = frozenset({"cancelled"})
KEY_SHIFT = 40
MAX_TEXT = 4000
EXCERPT = 300
# A ticket opened by the virtual agent holds the user's message, then this heading and the conversation
# (chat.tickets.open_ticket writes it). The transcript repeats the problem among the agent's offers (other
# tickets' and articles' titles), which pulled the ticket's embedding away from its own problem: "my VPN
# connection drops every 10 minutes" from the chat scored 0.71 against the open "VPN drops every 10 minutes"
# (0.94 without the transcript), under the duplicate threshold.
CHAT_HEADING = "Opened by the virtual agent (conversation "
CHAT_SEPARATOR = "\n\n---\n"
CHAT_USER_PREFIX = "User: "


def make_key(record_type: str, record_id: int) -> int:
    """The index key of a record."""
    return (TYPE_CODES[record_type] << KEY_SHIFT) | int(record_id)


def split_key(key: int) -> tuple[str, int]:
    """(record_type, record id) of an index key."""
    return CODE_TYPES[int(key) >> KEY_SHIFT], int(key) & ((1 << KEY_SHIFT) - 1)


# ------------------------------------------------------------------------------------------------ documents


@dataclass(frozen=True)
class Doc:
    """What the index holds for one record: embedded text, lexical fields and payload."""

    key: int
    text: str
    fields: dict[str, str]
    payload: dict[str, Any]


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def content_hash(text: str) -> str:
    """Hash of the embedded text (a changed hash means re-embed)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def problem_text(description: str | None) -> str | None:
    """A ticket description without a chat transcript: the user's message, or else the user's chat lines."""
    if not description or CHAT_HEADING not in description:
        return description
    lead, _, rest = description.partition(CHAT_HEADING)
    if lead.endswith(CHAT_SEPARATOR):
        lead = lead[: -len(CHAT_SEPARATOR)]
    if lead.strip():
        return lead.strip()
    said = [line[len(CHAT_USER_PREFIX) :] for line in rest.splitlines() if line.startswith(CHAT_USER_PREFIX)]
    return "\n".join(said) or None


def build_doc(
    record_type: str,
    record_id: int,
    title: str | None,
    body: str | None,
    state: str | None,
    category: str | None,
    opened: datetime | None,
    duplicate_of: int | None = None,
) -> Doc | None:
    """The index document of a record, or None when the record is not indexed (cancelled, unpublished).

    ``duplicate_of``: the id of the incident an incident is a confirmed duplicate of."""
    if record_type == ARTICLE:
        if state != ArticleState.published:
            return None
    elif state in NOT_INDEXED_STATES:
        return None
    if record_type != ARTICLE:
        body = problem_text(body)
    title, body = title or "", (body or "")[:MAX_TEXT]
    text = f"{title}\n{body}".strip()[:MAX_TEXT]
    payload = {
        "type": record_type,
        "state": str(state),
        "category": category,
        "opened_ts": _ts(opened),
        "hash": content_hash(text),
    }
    if duplicate_of is not None and record_type == INCIDENT:
        # Only when set: the payloads of the records that are no duplicate stay as they were.
        payload["duplicate_of"] = make_key(INCIDENT, duplicate_of)
    return Doc(make_key(record_type, record_id), text, {"title": title, "body": body}, payload)


def doc_for(record_type: str, obj: Any) -> Doc | None:
    """The index document of an ORM record."""
    if record_type == ARTICLE:
        return build_doc(
            ARTICLE,
            obj.id,
            obj.short_description,
            obj.text,
            obj.state,
            obj.category,
            obj.published_at or obj.created_at,
        )
    return build_doc(
        record_type,
        obj.id,
        obj.short_description,
        obj.description,
        obj.state,
        obj.category,
        obj.opened_at,
        getattr(obj, "duplicate_of_id", None),
    )


def _columns(record_type: str) -> list[Any]:
    model = MODELS[record_type]
    if record_type == ARTICLE:
        return [
            model.id,
            model.short_description,
            model.text,
            model.state,
            model.category,
            model.published_at,
            model.created_at,
        ]
    columns = [
        model.id,
        model.short_description,
        model.description,
        model.state,
        model.category,
        model.opened_at,
    ]
    return [*columns, model.duplicate_of_id] if record_type == INCIDENT else columns


def _row_doc(record_type: str, row: Any) -> Doc | None:
    if record_type == ARTICLE:
        return build_doc(ARTICLE, row[0], row[1], row[2], row[3], row[4], row[5] or row[6])
    return build_doc(record_type, *row)


def iter_docs(db_session: Session, record_type: str, where: Any = None) -> Iterable[Doc]:
    """Index documents of every indexable record of a type (optionally matching ``where``), streamed."""
    model = MODELS[record_type]
    stmt = select(*_columns(record_type)).order_by(model.id)
    if record_type == ARTICLE:
        stmt = stmt.where(model.state == ArticleState.published.value)
    else:
        stmt = stmt.where(model.state.notin_(NOT_INDEXED_STATES))
    if where is not None:
        stmt = stmt.where(where)
    for row in db_session.execute(stmt.execution_options(yield_per=2000)):
        doc = _row_doc(record_type, row)
        if doc is not None:
            yield doc


def changed_docs(db_session: Session, record_type: str, where: Any) -> dict[int, Doc | None]:
    """Docs of the records matching ``where``, None for those no longer indexable (cancelled, retired)."""
    out: dict[int, Doc | None] = {}
    for row in db_session.execute(select(*_columns(record_type)).where(where)):
        out[make_key(record_type, row[0])] = _row_doc(record_type, row)
    return out


# ------------------------------------------------------------------------------------------------ filters


def make_filter(
    *,
    types: Sequence[str] | None = None,
    states: Sequence[str] | None = None,
    category: str | None = None,
    opened_after: datetime | None = None,
    opened_before: datetime | None = None,
) -> Callable[[dict[str, Any]], bool]:
    """Payload predicate: types, ticket states (articles are always published), category, opening time."""
    type_set = frozenset(types) if types else None
    state_set = frozenset(states) if states else None
    after, before = _ts(opened_after), _ts(opened_before)

    def predicate(payload: dict[str, Any]) -> bool:
        kind = payload.get("type")
        if type_set is not None and kind not in type_set:
            return False
        if state_set is not None and kind != ARTICLE and payload.get("state") not in state_set:
            return False
        if category is not None and payload.get("category") != category:
            return False
        if after is not None or before is not None:
            opened = payload.get("opened_ts")
            if opened is None:
                return False
            if after is not None and opened < after:
                return False
            if before is not None and opened >= before:
                return False
        return True

    return predicate


# ------------------------------------------------------------------------------------------------ results


def item_for(record_type: str, obj: Any, score: float, fix_min_score: float = 0.0) -> dict[str, Any]:
    """One result item: the contract of /similar and of suggestions["similar"]; a ticket below
    ``fix_min_score`` is listed without its fix (a fix for another problem misleads more than none)."""
    item: dict[str, Any] = {
        "id": obj.id,
        "number": obj.number,
        "record_type": record_type,
        "correlation_id": obj.correlation_id,
        "short_description": obj.short_description,
        "score": round(float(score), 4),
        "state": obj.state,
        "category": obj.category,
        "suggested_fix": None,
        "url": f"/api/v1/{PATHS[record_type]}/{obj.number}",
    }
    if record_type == ARTICLE:
        text = obj.text or ""
        item["excerpt"] = text[:EXCERPT] + ("..." if len(text) > EXCERPT else "")
    else:
        fix = obj.resolution_notes
        if record_type == PROBLEM and not fix:
            fix = obj.workaround or obj.cause_notes
        item["suggested_fix"] = fix if score >= fix_min_score else None
        item["fix_shareable"] = bool(getattr(obj, "fix_shareable", False))
        item["opened_at"] = obj.opened_at.isoformat() if obj.opened_at else None
        item["resolved_at"] = obj.resolved_at.isoformat() if obj.resolved_at else None
    return item


def read_hits(
    db_session: Session,
    hits: Sequence[tuple[int, float]],
    stored_payload: Callable[[int], dict[str, Any] | None],
    predicate: Callable[[dict[str, Any]], bool] | None = None,
    fix_min_score: float = 0.0,
    via: Mapping[int, Sequence[int]] | None = None,
) -> tuple[list[dict[str, Any]], dict[int, Doc | None]]:
    """Result items of hits, read from the database, and the docs to re-sync (None: remove).

    A hit whose row is gone, or whose text differs from what the index holds (``stored_payload``), is
    dropped and re-synced; one whose payload alone changed is kept and re-synced, then filtered again.
    ``via``: per hit key, the confirmed duplicates it was reached through; listed by number in ``via``.
    """
    by_type: dict[str, list[int]] = {}
    for key, _ in hits:
        record_type, record_id = split_key(key)
        by_type.setdefault(record_type, []).append(record_id)
    rows: dict[int, Any] = {}
    for record_type, ids in by_type.items():
        model = MODELS[record_type]
        for obj in db_session.scalars(select(model).where(model.id.in_(ids))):
            rows[make_key(record_type, obj.id)] = obj
    numbers = _numbers(db_session, {v for keys in (via or {}).values() for v in keys})
    resync: dict[int, Doc | None] = {}
    items = []
    for key, score in hits:
        record_type, _ = split_key(key)
        obj = rows.get(key)
        doc = doc_for(record_type, obj) if obj is not None else None
        stored = stored_payload(key)
        if doc is None or stored is None or stored.get("hash") != doc.payload["hash"]:
            resync[key] = doc
            continue
        if stored != doc.payload:
            resync[key] = doc
        if predicate is not None and not predicate(doc.payload):
            continue
        item = item_for(record_type, obj, score, fix_min_score)
        if via is not None:
            item["via"] = [numbers[v] for v in via.get(key, ()) if v in numbers]
        items.append(item)
    return items, resync


def _numbers(db_session: Session, keys: Iterable[int]) -> dict[int, str]:
    """Numbers of records by index key (one query per record type)."""
    by_type: dict[str, list[int]] = {}
    for key in keys:
        record_type, record_id = split_key(key)
        by_type.setdefault(record_type, []).append(record_id)
    out: dict[int, str] = {}
    for record_type, ids in by_type.items():
        model = MODELS[record_type]
        for record_id, number in db_session.execute(select(model.id, model.number).where(model.id.in_(ids))):
            out[make_key(record_type, record_id)] = number
    return out
