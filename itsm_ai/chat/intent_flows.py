"""What the virtual agent does for each intent (answers, catalog items, ticket status, opening a ticket,
hand-off to a person) and for the answer to 'did that solve it?', building up the turn's `Reply`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.chat.answers import find_answers, match_catalog
from itsm_ai.chat.conversations import confirm_intent, finish
from itsm_ai.chat.enums import INTENT_LABELS, ConversationState, Intent, Outcome
from itsm_ai.chat.models import Conversation
from itsm_ai.chat.tickets import (
    HAND_OFF_PREFIX,
    TICKET_NUMBER,
    count_my_tickets,
    my_tickets,
    open_ticket,
    ticket_ref,
)
from itsm_ai.errors import InvalidInputError, PermissionDeniedError

MENU = (Intent.report_problem, Intent.request_item, Intent.check_status, Intent.how_to, Intent.talk_to_person)
YES_WORDS = frozenset({"y", "yes", "yep", "yeah", "yup", "sure", "ok", "okay", "ja"})
NO_WORDS = frozenset({"n", "no", "nope", "nah", "nein"})
FEEDBACK_CHOICES = [
    {"value": "feedback:yes", "label": "Yes, that solved it"},
    {"value": "feedback:no", "label": "No, open a ticket"},
]
PERSON_CHOICE = {"value": "person", "label": "Talk to a person"}
INCIDENT_CHOICE = {"value": "ticket:incident", "label": "Open a ticket"}
SCOPE_CHOICES = [
    {"value": "scope:yes", "label": "Yes, I need help with this"},
    {"value": "scope:no", "label": "No"},
]
SCOPE_QUESTION = "Is this a problem you want help with?"


@dataclass
class Reply:
    """What the bot says in one turn, built up by the flows."""

    text: str = ""
    intent: str | None = None
    confidence: float | None = None
    choices: list[dict[str, str]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    ask_feedback: bool = False
    ticket: dict[str, Any] | None = None
    tickets: list[dict[str, Any]] = field(default_factory=list)


def intent_choice(intent: str) -> dict[str, str]:
    """A choice that picks this intent."""
    return {"value": f"intent:{intent}", "label": INTENT_LABELS.get(intent, intent)}


def wait_for(conv: Conversation, reply: Reply, state: ConversationState, **context: Any) -> None:
    """Offer the reply's choices and remember what the conversation waits for."""
    conv.state = state
    conv.context = {"choices": [c["value"] for c in reply.choices], **context}


def _open(conv: Conversation, reply: Reply) -> None:
    conv.context = {"choices": [c["value"] for c in reply.choices]} if reply.choices else {}
    conv.state = ConversationState.open


# ----------------------------------------------------------------------------------------------- flows


def _answer_flow(
    db_session: Session, user: User, conv: Conversation, text: str, reply: Reply, msg_id
) -> None:
    """report_problem / how_to: answers from articles and resolved tickets, then 'did that solve it?'."""
    answers = find_answers(db_session=db_session, user=user, text=text)
    context = {"problem": text, "flow_message_id": msg_id, "flow_intent": reply.intent}
    if answers:
        reply.answers = answers
        lines = ["Here is what I found:"]
        for i, a in enumerate(answers, 1):
            lines.append(f"{i}. {a['title']} ({a['number']})" if a["number"] else f"{i}. {a['title']}")
        lines.append("Did that solve it?")
        reply.text = "\n".join(lines)
        reply.ask_feedback = True
        reply.choices = list(FEEDBACK_CHOICES)
        wait_for(conv, reply, ConversationState.awaiting_feedback, **context)
        return
    if reply.intent == Intent.how_to:
        reply.text = (
            "I could not find an article that answers that. I can open a ticket now, with your question as "
            "its description, so that someone helps you."
        )
    else:
        reply.text = (
            "I could not find an article or a known fix for that. I can open a ticket now, with your message "
            "as its description."
        )
    reply.choices = [INCIDENT_CHOICE, PERSON_CHOICE]
    wait_for(conv, reply, ConversationState.awaiting_choice, **context)


def _catalog_flow(db_session: Session, conv: Conversation, text: str, reply: Reply, msg_id) -> None:
    """request_item: offer matching active catalog items."""
    matches = match_catalog(db_session=db_session, text=text)
    context = {"problem": text, "flow_message_id": msg_id, "flow_intent": Intent.request_item}
    if matches:
        reply.text = "Which of these would you like to request?"
        reply.choices = [{"value": f"item:{item.id}", "label": item.name} for item, _ in matches]
        reply.choices.append({"value": "item:none", "label": "None of these"})
    else:
        reply.text = (
            "I could not find a matching item in the service catalog. "
            "I can open a general request for you, or you can talk to a person."
        )
        reply.choices = [{"value": "ticket:request", "label": "Open a general request"}, PERSON_CHOICE]
    wait_for(conv, reply, ConversationState.awaiting_choice, **context)


def _status_flow(db_session: Session, user: User, conv: Conversation, text: str, reply: Reply) -> None:
    """check_status: the user's own open tickets and their latest public update."""
    tickets = my_tickets(db_session=db_session, user=user, text=text)
    total = count_my_tickets(db_session=db_session, user=user, text=text)
    # The tickets travel in `reply.tickets` (the page lists them); the text only counts them, so a client
    # showing both lists each ticket once.
    reply.tickets = tickets
    if not tickets:
        reply.text = "You have no open tickets."
    else:
        noun = "ticket" if total == 1 else "tickets"
        noun = noun if TICKET_NUMBER.search(text or "") else f"open {noun}"
        reply.text = f"You have {total} {noun}."
        if total > len(tickets):
            reply.text += (
                f" Here are the {len(tickets)} most recently updated; all of them are under My tickets."
            )
    _open(conv, reply)


def create_ticket(
    db_session: Session,
    user: User,
    conv: Conversation,
    reply: Reply,
    *,
    record_type: str,
    short_description: str,
    outcome: Outcome,
    catalog_item: CatalogItem | None = None,
    description: str | None = None,
) -> bool:
    """Open a ticket for the user and say its number; False (and a polite reply) when their role cannot."""
    try:
        obj = open_ticket(
            db_session=db_session,
            user=user,
            conversation=conv,
            record_type=record_type,
            short_description=short_description,
            catalog_item=catalog_item,
            description=description,
        )
    except PermissionDeniedError:
        reply.text = (
            "Your role cannot open tickets, so I cannot do that for you. Please contact the service desk."
        )
        _open(conv, reply)
        return False
    except InvalidInputError:
        if catalog_item is None:
            raise
        # The item asks questions (required answers are checked on create) that a chat does not ask.
        reply.text = (
            f"{catalog_item.name} asks a few questions first: please order it from the service catalog "
            "(Catalog in the menu)."
        )
        _open(conv, reply)
        return False
    reply.ticket = ticket_ref(obj)
    noun = "request" if record_type == "service_request" else "ticket"
    group = obj.assignment_group_ref.name if getattr(obj, "assignment_group_ref", None) else None
    routed = f" It has been routed to {group}." if group else ""
    if outcome == Outcome.handed_off:
        reply.text = (
            f"I have passed this to the service desk as {obj.number}; a person will get back to you.{routed}"
        )
    else:
        reply.text = f"I have opened {noun} {obj.number} for you.{routed} You can follow it under My tickets."
    finish(conversation=conv, outcome=outcome)
    return True


def create_reported_incident(
    db_session: Session, user: User, conv: Conversation, reply: Reply, context: dict
) -> None:
    """Open the incident the user described in this conversation: their message is its title (shortened
    when long) and opens its description, followed by the transcript."""
    problem = context.get("problem")
    create_ticket(
        db_session,
        user,
        conv,
        reply,
        record_type="incident",
        short_description=problem or "Reported through the virtual agent",
        outcome=Outcome.ticket_created,
        description=problem,
    )


def hand_off(db_session: Session, user: User, conv: Conversation, reply: Reply, text: str | None) -> None:
    """talk_to_person: open a ticket a person picks up, and say so."""
    subject = HAND_OFF_PREFIX + (text or "the user asked to talk to a person")
    create_ticket(
        db_session,
        user,
        conv,
        reply,
        record_type="incident",
        short_description=subject,
        outcome=Outcome.handed_off,
    )


def run_intent(
    db_session: Session, user: User, conv: Conversation, intent: str, text: str | None, reply: Reply, msg_id
) -> None:
    """Act on a (detected or chosen) intent."""
    reply.intent = intent
    conv.intent = intent
    if intent in (Intent.report_problem, Intent.how_to, Intent.request_item) and not text:
        what = {
            Intent.report_problem: "Please describe the problem.",
            Intent.how_to: "What would you like to know?",
            Intent.request_item: "What would you like to request?",
        }[intent]
        reply.text = what
        _open(conv, reply)
        conv.context = {"expect": intent}
        return
    if intent in (Intent.report_problem, Intent.how_to):
        _answer_flow(db_session, user, conv, text, reply, msg_id)
    elif intent == Intent.request_item:
        _catalog_flow(db_session, conv, text, reply, msg_id)
    elif intent == Intent.check_status:
        _status_flow(db_session, user, conv, text or "", reply)
    elif intent == Intent.talk_to_person:
        confirm_intent(db_session=db_session, message_id=msg_id, intent=intent)
        hand_off(db_session, user, conv, reply, text)
    elif intent == Intent.greeting:
        name = user.full_name if getattr(user, "full_name", None) else user.username
        reply.text = f"Hello {name}! I am the virtual agent. What can I help you with?"
        reply.choices = [intent_choice(i) for i in MENU]
        wait_for(conv, reply, ConversationState.open)
    elif intent == Intent.thanks:
        reply.text = "You're welcome! Is there anything else I can help with?"
        _open(conv, reply)
    else:  # a lone yes/no with nothing pending
        reply.text = "What can I help you with?"
        reply.choices = [intent_choice(i) for i in MENU]
        wait_for(conv, reply, ConversationState.open)


def out_of_scope(conv: Conversation, reply: Reply, text: str, msg_id) -> None:
    """Say politely that this is not for the service desk, and still offer a person or a ticket."""
    reply.intent = Intent.out_of_scope
    reply.text = (
        "Sorry, I cannot help with that: I can help with IT problems and requests, how-to questions and your "
        "tickets. If it is about IT after all, I can open a ticket or put you in touch with a person."
    )
    reply.choices = [PERSON_CHOICE, INCIDENT_CHOICE]
    wait_for(conv, reply, ConversationState.awaiting_choice, problem=text, flow_message_id=msg_id)


def ask_scope(conv: Conversation, reply: Reply, text: str, msg_id) -> None:
    """The detector is not sure the message is for the service desk: ask instead of refusing."""
    reply.intent = Intent.unsure
    reply.text = SCOPE_QUESTION
    reply.choices = list(SCOPE_CHOICES)
    wait_for(conv, reply, ConversationState.awaiting_choice, pending_text=text, pending_message_id=msg_id)


def handle_scope_answer(
    db_session: Session, user: User, conv: Conversation, is_problem: bool, reply: Reply
) -> None:
    """The answer to 'Is this a problem you want help with?': yes runs the problem flow on the message
    (and teaches the detector that it was one), no closes politely with the menu."""
    context = dict(conv.context or {})
    if is_problem:
        message_id, text = context.get("pending_message_id"), context.get("pending_text")
        confirm_intent(db_session=db_session, message_id=message_id, intent=Intent.report_problem)
        run_intent(db_session, user, conv, Intent.report_problem, text, reply, message_id)
        return
    reply.intent = Intent.out_of_scope
    reply.text = (
        "All right. I can help with IT problems and requests, how-to questions and the status of your "
        "tickets. Is there anything else?"
    )
    reply.choices = [intent_choice(i) for i in MENU]
    wait_for(conv, reply, ConversationState.open)


def handle_feedback(db_session: Session, user: User, conv: Conversation, solved: bool, reply: Reply) -> None:
    """The answer to 'did that solve it?': yes is a deflection, no opens an incident."""
    context = dict(conv.context or {})
    flow_intent = context.get("flow_intent") or Intent.report_problem
    reply.intent = flow_intent
    confirm_intent(db_session=db_session, message_id=context.get("flow_message_id"), intent=flow_intent)
    if solved:
        reply.text = "Great, glad that helped! I have noted that this was solved without a ticket."
        finish(conversation=conv, outcome=Outcome.deflected)
        return
    create_reported_incident(db_session, user, conv, reply, context)
