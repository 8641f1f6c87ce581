"""Draft knowledge articles from a cluster of resolved tickets.

``ExtractiveDrafter`` works offline: it scrubs personal data, strips HTML, cuts the texts into
sentences (a code block is one unit, joined to the sentence that introduces it), scores each sentence
by consensus (its mean best similarity to the other tickets of the cluster, TF-IDF or embeddings),
drops boilerplate and near-duplicates, and orders the chosen resolution steps by where they appear in
their tickets. ``GenerativeDrafter`` asks any OpenAI-compatible ``/v1/chat/completions`` endpoint for
a JSON article (sending scrubbed text only) and falls back to the extractive drafter when the endpoint
is not configured, fails, times out or answers something unusable.

The text handling lives in `drafting_text`, the drafters in `drafting_extractive` and `drafting_generative`;
this module is where callers import them from.
"""

from __future__ import annotations

from itsm_ai.knowledge.drafting_extractive import Draft, ExtractiveDrafter
from itsm_ai.knowledge.drafting_generative import DraftParseError, GenerativeDrafter, parse_draft_answer
from itsm_ai.knowledge.drafting_text import (
    Ticket,
    html_to_blocks,
    html_to_text,
    looks_like_html,
    split_units,
)

__all__ = [
    "Draft",
    "DraftParseError",
    "ExtractiveDrafter",
    "GenerativeDrafter",
    "Ticket",
    "html_to_blocks",
    "html_to_text",
    "looks_like_html",
    "parse_draft_answer",
    "split_units",
]
