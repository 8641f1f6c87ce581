"""One chat turn: detect what the user wants, run the matching flow (answers, catalog, status, hand-off),
persist both messages and return the reply.

Choice values the bot offers (and accepts back only when it offered them in its previous reply):
``intent:<name>`` (clarifying pick or menu), ``scope:yes|no`` (the answer to "Is this a problem you want help
with?"), ``feedback:yes|no``, ``item:<catalog item id>``, ``item:none``, ``ticket:incident``,
``ticket:request`` and ``person``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.chat.conversations import add_message, confirm_intent, get_own_conversation, start_conversation
from itsm_ai.chat.detector import get_detector
from itsm_ai.chat.enums import ConversationState, Intent, Outcome, Role
from itsm_ai.chat.intent_flows import (
    NO_WORDS,
    PERSON_CHOICE,
    YES_WORDS,
    Reply,
    ask_scope,
    create_reported_incident,
    create_ticket,
    hand_off,
    handle_feedback,
    handle_scope_answer,
    intent_choice,
    out_of_scope,
    run_intent,
    wait_for,
)
from itsm_ai.chat.intents import DecisionKind
from itsm_ai.chat.models import ChatTurn, Conversation
from itsm_ai.errors import InvalidInputError


def _handle_choice(db_session: Session, user: User, conv: Conversation, value: str, reply: Reply) -> None:
    context = dict(conv.context or {})
    if value.startswith("intent:"):
        intent = value.removeprefix("intent:")
        pending_text, pending_id = context.get("pending_text"), context.get("pending_message_id")
        if pending_id is not None:  # a clarifying pick confirms what the ambiguous message meant
            confirm_intent(db_session=db_session, message_id=pending_id, intent=intent)
        run_intent(db_session, user, conv, intent, pending_text, reply, pending_id)
    elif value in ("scope:yes", "scope:no"):
        handle_scope_answer(db_session, user, conv, value == "scope:yes", reply)
    elif value in ("feedback:yes", "feedback:no"):
        handle_feedback(db_session, user, conv, value == "feedback:yes", reply)
    elif value.startswith("item:"):
        reply.intent = Intent.request_item
        if value == "item:none":
            reply.text = "I can open a general request for you, or you can talk to a person."
            reply.choices = [{"value": "ticket:request", "label": "Open a general request"}, PERSON_CHOICE]
            wait_for(
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
        confirm_intent(
            db_session=db_session, message_id=context.get("flow_message_id"), intent=Intent.request_item
        )
        create_ticket(
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
        create_ticket(
            db_session,
            user,
            conv,
            reply,
            record_type="service_request",
            short_description=context.get("problem") or "Request through the virtual agent",
            outcome=Outcome.ticket_created,
        )
    elif value == "ticket:incident":
        # Opening an incident for the message confirms it reported a problem, also after a refusal: the
        # next training run learns what the detector turned away.
        reply.intent = context.get("flow_intent") or Intent.report_problem
        confirm_intent(db_session=db_session, message_id=context.get("flow_message_id"), intent=reply.intent)
        create_reported_incident(db_session, user, conv, reply, context)
    elif value == "person":
        reply.intent = Intent.talk_to_person
        hand_off(db_session, user, conv, reply, context.get("problem"))


_MARKERS = {DecisionKind.out_of_scope: Intent.out_of_scope, DecisionKind.unsure: Intent.unsure}


def _quick_yes_no(text: str) -> bool | None:
    word = text.strip().lower().rstrip("!.")
    if word in YES_WORDS:
        return True
    if word in NO_WORDS:
        return False
    return None


def _handle_message(db_session: Session, user: User, conv: Conversation, text: str, reply: Reply) -> None:
    context = dict(conv.context or {})
    detector = get_detector(db_session=db_session)
    decision = detector.decide([text])[0]
    msg = add_message(
        db_session=db_session,
        conversation=conv,
        role=Role.user,
        text=text,
        intent=_MARKERS.get(decision.kind, decision.intent),
        confidence=round(decision.confidence, 4),
    )
    reply.confidence = round(decision.confidence, 4)
    if "scope:yes" in (context.get("choices") or []):
        answer = _quick_yes_no(text)
        if answer is not None:  # a typed answer to "Is this a problem you want help with?"
            handle_scope_answer(db_session, user, conv, answer, reply)
            return
    if conv.state == ConversationState.awaiting_feedback:
        solved = _quick_yes_no(text)
        if solved is None and decision.kind != DecisionKind.out_of_scope and decision.intent in ("yes", "no"):
            solved = decision.intent == "yes"
        if solved is not None:
            handle_feedback(db_session, user, conv, solved, reply)
            return
    expected = context.get("expect")
    if expected:
        # The user was asked to describe their problem or request: this message is that description.
        reply.confidence = None
        run_intent(db_session, user, conv, expected, text, reply, msg.id)
        return
    if decision.kind == DecisionKind.out_of_scope:
        out_of_scope(conv, reply, text, msg.id)
        return
    if decision.kind == DecisionKind.unsure:
        ask_scope(conv, reply, text, msg.id)
        return
    if decision.kind == DecisionKind.clarify:
        reply.intent = decision.intent
        reply.text = "I am not sure what you mean. Is it one of these?"
        reply.choices = [intent_choice(c) for c, _ in decision.choices]
        wait_for(conv, reply, ConversationState.awaiting_choice, pending_text=text, pending_message_id=msg.id)
        return
    run_intent(db_session, user, conv, decision.intent, text, reply, msg.id)


def handle_turn(*, db_session: Session, user: User, turn: ChatTurn) -> dict[str, Any]:
    """Run one chat turn for the user and return the reply (the POST /chat response body)."""
    if turn.conversation_id is None:
        conv = start_conversation(db_session=db_session, user=user)
    else:
        conv = get_own_conversation(
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
        add_message(db_session=db_session, conversation=conv, role=Role.user, text=label)
        _handle_choice(db_session, user, conv, turn.choice, reply)
    else:
        _handle_message(db_session, user, conv, turn.message.strip(), reply)
    add_message(
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
