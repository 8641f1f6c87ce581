"""Virtual agent services: the intent detector's training and loading, conversations and messages, and the
look-ups the chat flows need (answers, catalog items, the user's own tickets, opening tickets).

The detector lives in `detector`, conversations in `conversations`, answers and catalog matches in `answers`,
tickets in `tickets`; this module is where callers import them from.
"""

from __future__ import annotations

from itsm_ai.chat.answers import find_answers, match_catalog
from itsm_ai.chat.conversations import (
    TRANSCRIPT_MAX,
    abandon_job,
    abandon_stale,
    add_message,
    confirm_intent,
    finish,
    get_conversation,
    get_own_conversation,
    list_conversations,
    start_conversation,
    transcript,
)
from itsm_ai.chat.detector import (
    MODEL_NAME,
    OOS_LABEL,
    SEED_PATH,
    confirmed_examples,
    get_detector,
    load_seed,
    make_detector,
    reset_detector,
    train,
    training_snapshot,
    warm_up,
    warm_up_in_background,
)
from itsm_ai.chat.tickets import (
    CLOSED_STATES,
    STATUS_LIMIT,
    TICKET_MODELS,
    TICKET_NUMBER,
    can_open,
    my_tickets,
    open_ticket,
    ticket_ref,
)

__all__ = [
    "CLOSED_STATES",
    "MODEL_NAME",
    "OOS_LABEL",
    "SEED_PATH",
    "STATUS_LIMIT",
    "TICKET_MODELS",
    "TICKET_NUMBER",
    "TRANSCRIPT_MAX",
    "abandon_job",
    "abandon_stale",
    "add_message",
    "can_open",
    "confirm_intent",
    "confirmed_examples",
    "find_answers",
    "finish",
    "get_conversation",
    "get_detector",
    "get_own_conversation",
    "list_conversations",
    "load_seed",
    "make_detector",
    "match_catalog",
    "my_tickets",
    "open_ticket",
    "reset_detector",
    "start_conversation",
    "ticket_ref",
    "train",
    "training_snapshot",
    "transcript",
    "warm_up",
    "warm_up_in_background",
]
