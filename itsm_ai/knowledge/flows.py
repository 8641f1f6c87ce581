"""Knowledge flows on tickets: similar records and duplicate flags on create, major-incident candidates,
duplicate confirm/dismiss, and creating a problem for a major-incident candidate.

Suggestions are written into the new ticket's INSERT (before-create listener) or, for existing rows, with a
Core UPDATE that leaves ``version`` alone (an ML note is not an edit someone could conflict with).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError
from itsm_ai.knowledge.article.links import on_article_event
from itsm_ai.knowledge.retrieval import service as retrieval
from itsm_ai.knowledge.retrieval import sync
from itsm_ai.knowledge.retrieval.documents import (
    ARTICLE,
    INCIDENT,
    MAX_TEXT,
    OPEN_STATES,
    PROBLEM,
    RESOLVED_STATES,
    make_filter,
    make_key,
    problem_text,
    split_key,
)
from itsm_ai.records import service as records
from itsm_ai.records.events import RecordEvent
from itsm_ai.ticket.models import Incident

log = logging.getLogger(__name__)

SOURCE = "knowledge"
_VECTOR_ATTR = "_knowledge_vector"


def query_text(obj: Any) -> str:
    """The text a ticket is searched by: short description and description (without a chat transcript)."""
    return _text(obj.short_description, obj.description)


def _text(short_description: str | None, description: str | None) -> str:
    # The same text the index embeds for a stored ticket (build_doc), so a new ticket and its twin compare
    # like with like.
    return f"{short_description or ''}\n{problem_text(description) or ''}".strip()[:MAX_TEXT]


def merge_suggestions(current: dict[str, Any] | None, **keys: Any) -> dict[str, Any]:
    """A new suggestions dict with some keys replaced and every other key (triage fields...) kept."""
    merged = dict(current or {})
    merged.update(keys)
    return merged


def write_suggestions(db_session: Session, obj: Any, **keys: Any) -> dict[str, Any]:
    """Merge keys into a stored ticket's suggestions without bumping its version."""
    write_suggestions_many(db_session, [obj], **keys)
    return obj.suggestions


def write_suggestions_many(db_session: Session, objs: list[Any], **keys: Any) -> None:
    """``write_suggestions`` for several rows of one table: one SELECT and one batched UPDATE."""
    if not objs:
        return
    table = type(objs[0]).__table__
    ids = [obj.id for obj in objs]
    rows = db_session.execute(select(table.c.id, table.c.suggestions).where(table.c.id.in_(ids)))
    current = dict(rows.all())
    merged = {obj.id: merge_suggestions(current.get(obj.id), **keys) for obj in objs}
    # updated_at named explicitly so its onupdate does not fire: an ML note is not an edit.
    stmt = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values(
            suggestions=bindparam("_suggestions", type_=table.c.suggestions.type),
            updated_at=table.c.updated_at,
        )
    )
    db_session.execute(stmt, [{"_id": i, "_suggestions": merged[i]} for i in ids])
    for obj in objs:
        set_committed_value(obj, "suggestions", merged[obj.id])


# ------------------------------------------------------------------------------------------ on create


def prepare_create(record_type: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """Preparer: a new incident's query vector (and queued index updates), embedded before its transaction."""
    if record_type != INCIDENT:
        return None
    try:
        service = retrieval.get_service()
        if not service.ready or service.index is None:
            return None  # the listener loads the index with its session (or skips while it is being built)
        service.flush()
        text = _text(values.get("short_description"), values.get("description"))
        # Taken before embedding: if the encoder is swapped meanwhile, the listener sees a mismatch and
        # embeds again, so a vector never meets another encoder's index.
        encoder = service.encoder
        vector = service.encode(text)
        return {"knowledge.text": text, "knowledge.vector": vector, "knowledge.encoder": encoder}
    except Exception:  # noqa: BLE001 - suggestions must never stop a ticket from being created
        log.exception("knowledge: embedding a new incident failed")
        return None


def suggest_on_create(db_session: Session, event: RecordEvent) -> None:
    """Before-create listener: similar resolved records and a likely duplicate on a new incident."""
    if event.record_type != INCIDENT or event.kind != "creating":
        return
    obj = event.record
    try:
        service = retrieval.get_service()
        if not service.ensure_ready(db_session, wait=False):
            return  # the index is being built by another thread: no suggestions for this one
        service.flush()
        if service.index is None or not len(service.index):
            return
        settings = service.settings
        text = query_text(obj)
        prepared = event.prepared
        encoder = service.encoder
        fresh = prepared.get("knowledge.text") != text or prepared.get("knowledge.encoder") is not encoder
        vector = service.encode(text) if fresh else prepared["knowledge.vector"]
        setattr(obj, _VECTOR_ATTR, vector)
        similar = service.search(
            db_session,
            text,
            k=settings.knowledge_similar_on_create,
            types=[t for t in service.types if t in (INCIDENT, PROBLEM, ARTICLE)],
            states=RESOLVED_STATES,
            vector=vector,
            vector_encoder=encoder,
            min_score=settings.knowledge_similar_min_score,
        )
        if service.encoder is not encoder:  # swapped during the search: the duplicate check embeds again
            vector = service.encode(text)
            setattr(obj, _VECTOR_ATTR, vector)
        keys: dict[str, Any] = {"similar": [_suggestion_item(i) for i in similar]}
        if obj.duplicate_of_id is None:
            keys["duplicate"] = _find_duplicate(db_session, service, vector)
        obj.suggestions = merge_suggestions(obj.suggestions, **keys)
    except Exception:  # noqa: BLE001 - suggestions must never stop a ticket from being created
        log.exception("knowledge suggestions failed for a new incident")


def _suggestion_item(item: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "number",
        "record_type",
        "correlation_id",
        "short_description",
        "score",
        "state",
        "suggested_fix",
        "url",
    )
    return {**{k: item.get(k) for k in keep}, "via": item.get("via") or []}


def _find_duplicate(
    db_session: Session, service: retrieval.RetrievalService, vector
) -> dict[str, Any] | None:
    threshold = service.settings.knowledge_duplicate_threshold
    predicate = make_filter(types=[INCIDENT], states=OPEN_STATES)
    hits = [(key, s) for key, s in service.dense_search(vector, k=3, predicate=predicate) if s >= threshold]
    # The nearest open incident may itself be a confirmed duplicate: suggest its master while that is open.
    found = service.collapse(hits, predicate)
    via = {key: keys for key, _, keys in found}
    items = service.hydrate(db_session, [(key, s) for key, s, _ in found], predicate, via=via)
    if not items:
        return None
    best = items[0]
    out = {"number": best["number"], "score": best["score"], "status": "suggested"}
    if best["via"]:
        out["via"] = best["via"]
    return out


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Engine listener: keep the index and article links in line with writes; spot major incidents."""
    sync.on_record_event(db_session, event)
    if event.record_type == ARTICLE:
        on_article_event(db_session, event)
    if event.kind == "created" and event.record_type == INCIDENT and event.depth == 0:
        try:
            found = find_major_incident(db_session, event.record)
            if found is not None:
                # A savepoint: a failed write must not undo the incident itself.
                with db_session.begin_nested():
                    apply_major_incident(db_session, *found, actor=event.actor)
        except Exception:  # noqa: BLE001 - a failed check must not undo the incident
            log.exception("major-incident check failed for %s", getattr(event.record, "number", "?"))


# ------------------------------------------------------------------------------------ duplicates


def confirm_duplicate(
    db_session: Session, *, incident: Incident, actor, master: str | None = None
) -> Incident:
    """Set duplicate_of to the suggested (or given) incident through the normal, audited update path."""
    from itsm_ai.ticket.service import INCIDENT as SPEC

    suggestion = (incident.suggestions or {}).get("duplicate") or {}
    number = master or suggestion.get("number")
    if not number:
        raise InvalidInputError(
            "number: no duplicate is suggested for this incident; name one", field="number"
        )
    target = records.get(db_session=db_session, spec=SPEC, ref=number)
    if target.id == incident.id:
        raise InvalidInputError("number: an incident cannot duplicate itself", field="number")
    incident = records.update(
        db_session=db_session,
        spec=SPEC,
        obj=incident,
        data={"version": incident.version, "duplicate_of": target.number},
        actor=actor,
    )
    status = {
        "number": target.number,
        "score": suggestion.get("score") if suggestion.get("number") == target.number else None,
        "status": "confirmed",
        "by": getattr(actor, "username", None),
        "at": utcnow().isoformat(),
    }
    write_suggestions(db_session, incident, duplicate=status)
    return incident


def dismiss_duplicate(db_session: Session, *, incident: Incident, actor) -> Incident:
    """Mark the duplicate suggestion as dismissed (audited as a work note in the audit trail)."""
    from itsm_ai.audit import service as audit_service

    suggestion = (incident.suggestions or {}).get("duplicate")
    if not suggestion:
        raise ConflictError("duplicate: no duplicate is suggested for this incident", field="duplicate")
    dismissed = {
        **suggestion,
        "status": "dismissed",
        "by": getattr(actor, "username", None),
        "at": utcnow().isoformat(),
    }
    write_suggestions(db_session, incident, duplicate=dismissed)
    audit_service.record_event(
        db_session=db_session,
        record_type=INCIDENT,
        record_id=incident.id,
        actor=actor,
        action="update",
        field="suggestions.duplicate",
        old=suggestion.get("status"),
        new="dismissed",
        internal=True,
    )
    return incident


# ------------------------------------------------------------------------------------ major incidents


def find_major_incident(
    db_session: Session, incident: Incident
) -> tuple[Incident, list[Incident], dict[str, Any]] | None:
    """(incident, members, candidate) when the incident completes a group of similar recent open ones."""
    service = retrieval.get_service()
    settings = service.settings
    needed = settings.knowledge_major_incident_count
    if needed < 2 or service.index is None:
        return None
    vector = getattr(incident, _VECTOR_ATTR, None)
    if vector is None:
        if not len(service.index):
            return None
        vector = service.encode(query_text(incident))
    window = timedelta(minutes=settings.knowledge_major_incident_window_minutes)
    since = (incident.opened_at or utcnow()) - window
    predicate = make_filter(types=[INCIDENT], states=OPEN_STATES, opened_after=since)
    hits = service.dense_search(
        vector, k=max(50, needed * 4), predicate=predicate, exclude=[make_key(INCIDENT, incident.id)]
    )
    hits = [(key, s) for key, s in hits if s >= settings.knowledge_major_incident_threshold]
    if len(hits) + 1 < needed:
        return None
    ids = [split_key(key)[1] for key, _ in hits]
    # Only the incident columns: the joined and select-in references of up to 50 rows cost more than the rest
    # of the check, and nothing here reads them (an update that does loads them lazily).
    members = list(db_session.scalars(select(Incident).where(Incident.id.in_(ids)).options(lazyload("*"))))
    members = [m for m in members if m.state in OPEN_STATES and m.duplicate_of_id is None]
    if len(members) + 1 < needed:
        return None
    members.append(incident)
    members.sort(key=lambda m: (m.opened_at, m.id))
    existing = next(
        (
            m.suggestions["major_incident"]
            for m in members
            if (m.suggestions or {}).get("major_incident") and m.suggestions["major_incident"].get("problem")
        ),
        None,
    )
    problem_number = existing.get("problem") if existing else None
    candidate = {
        "problem": problem_number,
        "incidents": [m.number for m in members],
        "status": "created" if problem_number else "suggested",
        "score": round(min(s for _, s in hits), 4),
        "detected_at": utcnow().isoformat(),
    }
    return incident, members, candidate


def apply_major_incident(
    db_session: Session, incident: Incident, members: list[Incident], candidate: dict[str, Any], *, actor=None
) -> dict[str, Any]:
    """Record a found candidate on its members (and create or link the problem as configured)."""
    problem_number = candidate.get("problem")
    if problem_number is None and retrieval.get_service().settings.knowledge_major_incident_create_problem:
        return create_problem_for(db_session, incident=incident, actor=actor, candidate=candidate)
    # One batched write: a growing group touches every member on each new incident.
    write_suggestions_many(db_session, members, major_incident=candidate)
    if problem_number:
        _link_problem(db_session, members, problem_number, actor)
    return candidate


def _link_problem(db_session: Session, members: list[Incident], problem_number: str, actor) -> None:
    from itsm_ai.ticket.service import INCIDENT as SPEC

    for member in members:
        if member.problem_id is None:
            records.update(
                db_session=db_session,
                spec=SPEC,
                obj=member,
                data={"version": member.version, "problem": problem_number},
                actor=actor,
                source=SOURCE,
            )


def create_problem_for(
    db_session: Session, *, incident: Incident, actor, candidate: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Create a problem for the incident's major-incident candidate and link every member incident to it."""
    from itsm_ai.ticket.service import INCIDENT as INCIDENT_SPEC
    from itsm_ai.ticket.service import PROBLEM as PROBLEM_SPEC

    candidate = candidate or (incident.suggestions or {}).get("major_incident")
    if not candidate:
        raise ConflictError(
            "major_incident: this incident is not part of a major-incident candidate", field="major_incident"
        )
    if candidate.get("problem"):
        raise ConflictError(
            f"major_incident: problem {candidate['problem']} already exists for this candidate",
            field="major_incident",
        )
    numbers = list(dict.fromkeys([*candidate.get("incidents", []), incident.number]))
    members = [records.get(db_session=db_session, spec=INCIDENT_SPEC, ref=n) for n in numbers]
    lead = min(members, key=lambda m: (m.opened_at, m.id))
    listing = "\n".join(f"- {m.number}: {m.short_description}" for m in members)
    problem = records.create(
        db_session=db_session,
        spec=PROBLEM_SPEC,
        data=PROBLEM_SPEC.create_schema(
            short_description=f"Major incident: {lead.short_description}"[:255],
            description=f"{len(members)} similar incidents opened close together:\n{listing}",
            impact=min(m.impact for m in members),
            urgency=min(m.urgency for m in members),
            category=lead.category,
        ).model_dump(),
        actor=actor,
        source=SOURCE if actor is None else "api",
    )
    done = {**candidate, "problem": problem.number, "incidents": numbers, "status": "created"}
    write_suggestions_many(db_session, members, major_incident=done)
    _link_problem(db_session, members, problem.number, actor)
    return done
