"""One chat turn: detect what the user wants, run the matching flow (answers, catalog, status, hand-off),
persist both messages and return the reply.

Choice values the bot offers (and accepts back only when it offered them in its previous reply):
``intent:<name>`` (clarifying pick or menu), ``feedback:yes|no``, ``item:<catalog item id>``, ``item:none``,
``ticket:incident``, ``ticket:request`` and ``person``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.chat import service
from itsm_ai.chat.enums import INTENT_LABELS, ConversationState, Intent, Outcome, Role
from itsm_ai.chat.intents import DecisionKind
from itsm_ai.chat.models import ChatTurn, Conversation
from itsm_ai.errors import InvalidInputError, PermissionDeniedError

MENU = (Intent.report_problem, Intent.request_item, Intent.check_status, Intent.how_to, Intent.talk_to_person)
YES_WORDS = frozenset({"y", "yes", "yep", "yeah", "yup", "sure", "ok", "okay"})
NO_WORDS = frozenset({"n", "no", "nope", "nah"})
FEEDBACK_CHOICES = [
    {"value": "feedback:yes", "label": "Yes, that solved it"},
    {"value": "feedback:no", "label": "No, open a ticket"},
]
PERSON_CHOICE = {"value": "person", "label": "Talk to a person"}
INCIDENT_CHOICE = {"value": "ticket:incident", "label": "Open a ticket"}


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


def _intent_choice(intent: str) -> dict[str, str]:
    return {"value": f"intent:{intent}", "label": INTENT_LABELS.get(intent, intent)}


def _wait(conv: Conversation, reply: Reply, state: ConversationState, **context: Any) -> None:
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
    answers = service.find_answers(db_session=db_session, user=user, text=text)
    context = {"problem": text, "flow_message_id": msg_id, "flow_intent": reply.intent}
    if answers:
        reply.answers = answers
        lines = ["Here is what I found:"]
        for i, a in enumerate(answers, 1):
            lines.append(f"{i}. {a['title']} ({a['number']})")
        lines.append("Did that solve it?")
        reply.text = "\n".join(lines)
        reply.ask_feedback = True
        reply.choices = list(FEEDBACK_CHOICES)
        _wait(conv, reply, ConversationState.awaiting_feedback, **context)
        return
    if reply.intent == Intent.how_to:
        reply.text = "I could not find an answer to that. Shall I open a ticket so someone can help you?"
    else:
        reply.text = "I could not find a known fix for that. Shall I open a ticket for you?"
    reply.choices = [INCIDENT_CHOICE, PERSON_CHOICE]
    _wait(conv, reply, ConversationState.awaiting_choice, **context)


def _catalog_flow(db_session: Session, conv: Conversation, text: str, reply: Reply, msg_id) -> None:
    """request_item: offer matching active catalog items."""
    matches = service.match_catalog(db_session=db_session, text=text)
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
    _wait(conv, reply, ConversationState.awaiting_choice, **context)


def _status_flow(db_session: Session, user: User, conv: Conversation, text: str, reply: Reply) -> None:
    """check_status: the user's own open tickets and their latest public update."""
    tickets = service.my_tickets(db_session=db_session, user=user, text=text)
    reply.tickets = tickets
    if not tickets:
        reply.text = "You have no open tickets."
    else:
        lines = [f"You have {len(tickets)} ticket{'s' if len(tickets) != 1 else ''}:"]
        for t in tickets:
            line = f"- {t['number']} ({t['state']}): {t['short_description']}"
            if t["latest_public_comment"]:
                line += f"\n  Latest update: {t['latest_public_comment']}"
            lines.append(line)
        reply.text = "\n".join(lines)
    _open(conv, reply)


def _create_ticket(
    db_session: Session,
    user: User,
    conv: Conversation,
    reply: Reply,
    *,
    record_type: str,
    short_description: str,
    outcome: Outcome,
    catalog_item: CatalogItem | None = None,
) -> bool:
    """Open a ticket for the user and say its number; False (and a polite reply) when their role cannot."""
    try:
        obj = service.open_ticket(
            db_session=db_session,
            user=user,
            conversation=conv,
            record_type=record_type,
            short_description=short_description,
            catalog_item=catalog_item,
        )
    except PermissionDeniedError:
        reply.text = (
            "Your role cannot open tickets, so I cannot do that for you. Please contact the service desk."
        )
        _open(conv, reply)
        return False
    reply.ticket = service.ticket_ref(obj)
    noun = "request" if record_type == "service_request" else "ticket"
    group = obj.assignment_group_ref.name if getattr(obj, "assignment_group_ref", None) else None
    routed = f" It has been routed to {group}." if group else ""
    if outcome == Outcome.handed_off:
        reply.text = (
            f"I have passed this to the service desk as {obj.number}; a person will get back to you.{routed}"
        )
    else:
        reply.text = f"I have opened {noun} {obj.number} for you.{routed} You can follow it under My tickets."
    service.finish(conversation=conv, outcome=outcome)
    return True


def _handoff(db_session: Session, user: User, conv: Conversation, reply: Reply, text: str | None) -> None:
    """talk_to_person: open a ticket a person picks up, and say so."""
    subject = f"Chat hand-off: {text}" if text else "Chat hand-off: the user asked to talk to a person"
    _create_ticket(
        db_session,
        user,
        conv,
        reply,
        record_type="incident",
        short_description=subject,
        outcome=Outcome.handed_off,
    )


def _run_intent(
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
        service.confirm_intent(db_session=db_session, message_id=msg_id, intent=intent)
        _handoff(db_session, user, conv, reply, text)
    elif intent == Intent.greeting:
        name = user.full_name if getattr(user, "full_name", None) else user.username
        reply.text = f"Hello {name}! I am the virtual agent. What can I help you with?"
        reply.choices = [_intent_choice(i) for i in MENU]
        _wait(conv, reply, ConversationState.open)
    elif intent == Intent.thanks:
        reply.text = "You're welcome! Is there anything else I can help with?"
        _open(conv, reply)
    else:  # a lone yes/no with nothing pending
        reply.text = "What can I help you with?"
        reply.choices = [_intent_choice(i) for i in MENU]
        _wait(conv, reply, ConversationState.open)


def _out_of_scope(conv: Conversation, reply: Reply, text: str, msg_id) -> None:
    reply.intent = Intent.out_of_scope
    reply.text = (
        "Sorry, I cannot help with that. I can put you in touch with a person, or open a ticket for you."
    )
    reply.choices = [PERSON_CHOICE, INCIDENT_CHOICE]
    _wait(conv, reply, ConversationState.awaiting_choice, problem=text, flow_message_id=msg_id)


def _feedback(db_session: Session, user: User, conv: Conversation, solved: bool, reply: Reply) -> None:
    """The answer to 'did that solve it?': yes is a deflection, no opens an incident."""
    context = dict(conv.context or {})
    flow_intent = context.get("flow_intent") or Intent.report_problem
    reply.intent = flow_intent
    service.confirm_intent(
        db_session=db_session, message_id=context.get("flow_message_id"), intent=flow_intent
    )
    if solved:
        reply.text = "Great, glad that helped! I have noted that this was solved without a ticket."
        service.finish(conversation=conv, outcome=Outcome.deflected)
        return
    _create_ticket(
        db_session,
        user,
        conv,
        reply,
        record_type="incident",
        short_description=context.get("problem") or "Reported through the virtual agent",
        outcome=Outcome.ticket_created,
    )


def _handle_choice(db_session: Session, user: User, conv: Conversation, value: str, reply: Reply) -> None:
    context = dict(conv.context or {})
    if value.startswith("intent:"):
        intent = value.removeprefix("intent:")
        pending_text, pending_id = context.get("pending_text"), context.get("pending_message_id")
        if pending_id is not None:  # a clarifying pick confirms what the ambiguous message meant
            service.confirm_intent(db_session=db_session, message_id=pending_id, intent=intent)
        _run_intent(db_session, user, conv, intent, pending_text, reply, pending_id)
    elif value in ("feedback:yes", "feedback:no"):
        _feedback(db_session, user, conv, value == "feedback:yes", reply)
    elif value.startswith("item:"):
        reply.intent = Intent.request_item
        if value == "item:none":
            reply.text = "I can open a general request for you, or you can talk to a person."
            reply.choices = [{"value": "ticket:request", "label": "Open a general request"}, PERSON_CHOICE]
            _wait(
                conv,
                reply,
                ConversationState.awaiting_choice,
                **{k: v for k, v in context.items() if k != "choices"},
            )
            return
        item = db_session.get(CatalogItem, int(value.removeprefix("item:")))
        if item is None or not item.active:
            reply.text = "That item is no longer available. What would you like to request?"
            conv.context = {"expect": Intent.request_item}
            conv.state = ConversationState.open
            return
        service.confirm_intent(
            db_session=db_session, message_id=context.get("flow_message_id"), intent=Intent.request_item
        )
        _create_ticket(
            db_session,
            user,
            conv,
            reply,
            record_type="service_request",
            short_description=item.name,
            outcome=Outcome.ticket_created,
            catalog_item=item,
        )
    elif value == "ticket:request":
        reply.intent = Intent.request_item
        _create_ticket(
            db_session,
            user,
            conv,
            reply,
            record_type="service_request",
            short_description=context.get("problem") or "Request through the virtual agent",
            outcome=Outcome.ticket_created,
        )
    elif value == "ticket:incident":
        reply.intent = context.get("flow_intent") or Intent.report_problem
        if context.get("flow_intent"):
            service.confirm_intent(
                db_session=db_session,
                message_id=context.get("flow_message_id"),
                intent=context["flow_intent"],
            )
        _create_ticket(
            db_session,
            user,
            conv,
            reply,
            record_type="incident",
            short_description=context.get("problem") or "Reported through the virtual agent",
            outcome=Outcome.ticket_created,
        )
    elif value == "person":
        reply.intent = Intent.talk_to_person
        _handoff(db_session, user, conv, reply, context.get("problem"))


def _quick_yes_no(text: str) -> bool | None:
    word = text.strip().lower().rstrip("!.")
    if word in YES_WORDS:
        return True
    if word in NO_WORDS:
        return False
    return None


def _handle_message(db_session: Session, user: User, conv: Conversation, text: str, reply: Reply) -> None:
    context = dict(conv.context or {})
    detector = service.get_detector(db_session=db_session)
    decision = detector.decide([text])[0]
    msg = service.add_message(
        db_session=db_session,
        conversation=conv,
        role=Role.user,
        text=text,
        intent=decision.intent if decision.kind != DecisionKind.out_of_scope else Intent.out_of_scope,
        confidence=round(decision.confidence, 4),
    )
    reply.confidence = round(decision.confidence, 4)
    if conv.state == ConversationState.awaiting_feedback:
        solved = _quick_yes_no(text)
        if solved is None and decision.kind != DecisionKind.out_of_scope and decision.intent in ("yes", "no"):
            solved = decision.intent == "yes"
        if solved is not None:
            _feedback(db_session, user, conv, solved, reply)
            return
    expected = context.get("expect")
    if expected:
        # The user was asked to describe their problem or request: this message is that description.
        reply.confidence = None
        _run_intent(db_session, user, conv, expected, text, reply, msg.id)
        return
    if decision.kind == DecisionKind.out_of_scope:
        _out_of_scope(conv, reply, text, msg.id)
        return
    if decision.kind == DecisionKind.clarify:
        reply.intent = decision.intent
        reply.text = "I am not sure what you mean. Is it one of these?"
        reply.choices = [_intent_choice(c) for c, _ in decision.choices]
        _wait(conv, reply, ConversationState.awaiting_choice, pending_text=text, pending_message_id=msg.id)
        return
    _run_intent(db_session, user, conv, decision.intent, text, reply, msg.id)


def handle_turn(*, db_session: Session, user: User, turn: ChatTurn) -> dict[str, Any]:
    """Run one chat turn for the user and return the reply (the POST /chat response body)."""
    if turn.conversation_id is None:
        conv = service.start_conversation(db_session=db_session, user=user)
    else:
        conv = service.get_own_conversation(
            db_session=db_session, conversation_id=turn.conversation_id, user=user
        )
    reply = Reply()
    if turn.choice is not None:
        offered = (conv.context or {}).get("choices") or []
        if turn.choice not in offered:
            raise InvalidInputError(
                f"choice: {turn.choice!r} is not one of the choices offered"
                + (f" ({', '.join(offered)})" if offered else " (none are pending)"),
                field="choice",
            )
        label = next(
            (
                c["label"]
                for m in reversed(conv.messages)
                if m.role == Role.bot
                for c in (m.choices or [])
                if c["value"] == turn.choice
            ),
            turn.choice,
        )
        service.add_message(db_session=db_session, conversation=conv, role=Role.user, text=label)
        _handle_choice(db_session, user, conv, turn.choice, reply)
    else:
        _handle_message(db_session, user, conv, turn.message.strip(), reply)
    service.add_message(
        db_session=db_session,
        conversation=conv,
        role=Role.bot,
        text=reply.text,
        intent=reply.intent,
        confidence=reply.confidence,
        choices=reply.choices,
        answers=reply.answers,
    )
    return {
        "conversation_id": conv.id,
        "reply": reply.text,
        "intent": reply.intent,
        "confidence": reply.confidence,
        "choices": reply.choices,
        "answers": reply.answers,
        "ask_feedback": reply.ask_feedback,
        "ticket": reply.ticket,
        "tickets": reply.tickets,
        "state": conv.state,
    }
