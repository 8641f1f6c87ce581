"""Virtual agent enumerations: intents, conversation states and outcomes, message roles."""

from enum import StrEnum


class Intent(StrEnum):
    """What the virtual agent can act on (the detector's classes) plus the unsure and out-of-scope markers."""

    report_problem = "report_problem"
    request_item = "request_item"
    check_status = "check_status"
    how_to = "how_to"
    talk_to_person = "talk_to_person"
    greeting = "greeting"
    thanks = "thanks"
    yes = "yes"
    no = "no"
    unsure = "unsure"  # maybe not for the service desk: the chat asks before refusing
    out_of_scope = "out_of_scope"


INTENT_LABELS: dict[str, str] = {
    Intent.report_problem: "Report a problem",
    Intent.request_item: "Request something from the catalog",
    Intent.check_status: "Check the status of my tickets",
    Intent.how_to: "Find out how to do something",
    Intent.talk_to_person: "Talk to a person",
    Intent.greeting: "Just saying hello",
    Intent.thanks: "Just saying thanks",
    Intent.yes: "Just answering yes",
    Intent.no: "Just answering no",
}


class ConversationState(StrEnum):
    """Where a conversation stands; the last four are outcomes."""

    open = "open"
    awaiting_choice = "awaiting_choice"
    awaiting_feedback = "awaiting_feedback"
    deflected = "deflected"
    ticket_created = "ticket_created"
    handed_off = "handed_off"
    abandoned = "abandoned"


class Outcome(StrEnum):
    """How a conversation ended: a ticket avoided, a ticket opened, a person took over, or nobody answered."""

    deflected = "deflected"
    ticket_created = "ticket_created"
    handed_off = "handed_off"
    abandoned = "abandoned"


class Role(StrEnum):
    """Who wrote a chat message."""

    user = "user"
    bot = "bot"
