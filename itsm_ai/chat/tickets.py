"""The virtual agent's view of tickets: the user's own tickets and their public updates, and opening a
ticket from a conversation."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.chat.conversations import transcript
from itsm_ai.chat.models import Conversation
from itsm_ai.comment.models import Comment, Visibility
from itsm_ai.knowledge.retrieval.documents import CHAT_HEADING, CHAT_SEPARATOR
from itsm_ai.records import service as records_service
from itsm_ai.records.spec import Action
from itsm_ai.ticket.models import Incident, ServiceRequest
from itsm_ai.ticket.service import INCIDENT, SERVICE_REQUEST

HAND_OFF_PREFIX = "Chat hand-off: "  # title of the ticket opened when the user asks for a person
CLOSED_STATES = frozenset({"resolved", "closed", "cancelled", "rejected"})
TICKET_NUMBER = re.compile(r"\b(INC|REQ)\d{7}\b", re.IGNORECASE)
STATUS_LIMIT = 10
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


def _mine(model: Any, user: User, numbers: set[str]) -> list[Any]:
    conds = [model.caller_id == user.id]
    conds.append(model.number.in_(numbers) if numbers else model.state.notin_(CLOSED_STATES))
    return conds


def count_my_tickets(*, db_session: Session, user: User, text: str = "") -> int:
    """How many tickets `my_tickets` matches in all (it shows at most STATUS_LIMIT of them)."""
    numbers = {m.group(0).upper() for m in TICKET_NUMBER.finditer(text or "")}
    return sum(
        db_session.scalar(select(func.count()).select_from(model).where(*_mine(model, user, numbers))) or 0
        for model, _ in TICKET_MODELS.values()
    )


def my_tickets(*, db_session: Session, user: User, text: str = "") -> list[dict[str, Any]]:
    """The user's own open incidents and requests (or the ones named in the text), with their latest public
    comment; never someone else's tickets and never internal work notes."""
    numbers = {m.group(0).upper() for m in TICKET_NUMBER.finditer(text or "")}
    found: list[Any] = []
    for model, _ in TICKET_MODELS.values():
        stmt = select(model).where(*_mine(model, user, numbers))
        found.extend(
            db_session.scalars(stmt.order_by(model.updated_at.desc(), model.id.desc()).limit(STATUS_LIMIT))
        )
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
    description: str | None = None,
) -> Any:
    """Open an incident or service request for the user through the normal record create path (numbered,
    audited, classified and routed by the engine's listeners); its description is `description` (the
    user's message) followed by the transcript."""
    spec = INCIDENT if record_type == "incident" else SERVICE_REQUEST
    spec.access.check(user, Action.create, noun=spec.noun)
    short = " ".join(short_description.split())
    short = short if len(short) <= 255 else short[:252].rstrip() + "..."
    lead = f"{description.strip()}{CHAT_SEPARATOR}" if description and description.strip() else ""
    fields: dict[str, Any] = {
        "short_description": short,
        # The knowledge index embeds only the lead (documents.problem_text), so keep this layout.
        "description": f"{lead}{CHAT_HEADING}{conversation.id}).\n\n" + transcript(conversation),
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
