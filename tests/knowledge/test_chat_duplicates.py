"""A ticket the chat opens (the user's message, then the transcript) is compared by its problem, not by the
transcript: the duplicate check flags it against the open ticket it repeats, and the index stores it so."""

from __future__ import annotations

from tests.knowledge.helpers import service_incident, service_resolve

OPEN = ("VPN drops every 10 minutes", "The VPN connection drops every 10 minutes when I work from home.")
SAID = "my VPN connection drops every 10 minutes"
# What the agent offered in between: other records' titles, which used to pull the ticket's text away.
OFFERED = (
    "I found these answers: Outlook keeps asking for my password (clear the cached credentials in the "
    "credential manager and restart Outlook); Printer jobs stuck in the queue (restart the print spooler); "
    "Mailbox full: free space or request more. Did one of them solve it?"
)


def _chat_ticket(session, username: str):
    from itsm_ai.auth import service as user_service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.chat.models import Conversation, Message
    from itsm_ai.chat.tickets import open_ticket

    user = user_service.create(db_session=session, user_in=UserCreate(username=username), actor=None)
    conversation = Conversation(user_id=user.id)
    session.add(conversation)
    for role, text in (("user", SAID), ("bot", OFFERED), ("user", "No, open a ticket")):
        conversation.messages.append(Message(role=role, text=text))
    session.flush()
    obj = open_ticket(
        db_session=session,
        user=user,
        conversation=conversation,
        record_type="incident",
        short_description=SAID,
        description=SAID,
    )
    session.commit()
    return obj


def test_a_ticket_opened_from_the_chat_is_flagged_as_a_duplicate(svc, db_session):
    first = service_incident(db_session, *OPEN)
    # Resolved noise the offered titles match, so a transcript-polluted query would rank them first.
    for title in ("Outlook keeps asking for my password", "Printer jobs stuck in the queue"):
        noise = service_incident(db_session, title, OFFERED)
        service_resolve(db_session, noise, "fixed")
    chat = _chat_ticket(db_session, "caller")
    assert "Virtual agent: " in chat.description  # the transcript is kept on the ticket
    duplicate = (chat.suggestions or {}).get("duplicate")
    assert duplicate and duplicate["number"] == first.number, chat.suggestions
    assert duplicate["score"] >= svc.settings.knowledge_duplicate_threshold


def test_the_transcript_is_left_out_of_what_is_embedded():
    from itsm_ai.knowledge.flows import _text
    from itsm_ai.knowledge.retrieval.documents import CHAT_HEADING, build_doc, problem_text

    description = f"{SAID}\n\n---\n{CHAT_HEADING}7).\n\nUser: {SAID}\nVirtual agent: {OFFERED}"
    assert problem_text(description) == SAID
    assert _text(SAID, description) == f"{SAID}\n{SAID}"
    assert "Outlook" not in build_doc("incident", 1, SAID, description, "new", None, None).text
    # A hand-off has no message before the transcript: the user's own lines are the problem.
    handoff = f"{CHAT_HEADING}8).\n\nUser: talk to a person about my VPN\nVirtual agent: {OFFERED}"
    assert problem_text(handoff) == "talk to a person about my VPN"
    # Articles and descriptions without a transcript are embedded whole.
    assert problem_text("The VPN drops.\n\n---\nSee the log.") == "The VPN drops.\n\n---\nSee the log."
    article = build_doc("knowledge_article", 2, "VPN", description, "published", None, None)
    assert "Outlook" in article.text
