"""What the virtual agent offers for a question: knowledge answers (articles and fixes of resolved tickets)
and matching service catalog items."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.base.roles import Role as UserRole
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.chat.features import cached_embedding
from itsm_ai.config import get_settings
from itsm_ai.knowledge.drafting.pii import scrub

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------- answers


# What a requester sees instead of another requester's ticket title.
SHARED_FIX_TITLE = "A fix that helped with a similar problem"


def _search(db_session: Session, text: str, k: int) -> list[dict[str, Any]]:
    """Knowledge search; reuses the vector the intent detector already computed for this very text when
    both use the same shared MiniLM encoder (one embedding per chat turn instead of two)."""
    from itsm_ai.knowledge.retrieval import service as retrieval
    from itsm_ai.knowledge.retrieval.documents import RESOLVED_STATES

    vector = cached_embedding(text)
    if vector is not None:
        try:
            from itsm_ai.embeddings import get_encoder

            svc = retrieval.get_service()
            if svc.encoder is get_encoder():
                return svc.search(
                    db_session, text, k=k, types=None, states=RESOLVED_STATES, vector=vector
                )
        except (AttributeError, TypeError):  # the retrieval internals changed: use the public function
            pass
    return retrieval.search(db_session=db_session, text=text, k=k, types=None, published_only=False)


def find_answers(*, db_session: Session, user: User, text: str, k: int | None = None) -> list[dict[str, Any]]:
    """Published knowledge articles and fixes of similar resolved tickets for a question, best first.

    Retrieval belongs to the knowledge package; when it is missing or fails the chat says it found nothing.
    Staff see every resolved ticket's fix with its number. Everybody else sees a ticket's fix only when an
    agent marked it shareable, and then scrubbed of personal data and secrets, without its number, link or
    title (the title is the other requester's own words).
    """
    k = k or get_settings().chat_answers
    try:
        hits = _search(db_session, text, k * 2)
    except Exception:  # noqa: BLE001 - no answers is a valid answer; the chat offers a ticket instead
        log.warning("knowledge search unavailable for the chat", exc_info=True)
        return []
    staff = user.role in (UserRole.agent, UserRole.admin)
    answers = []
    for hit in hits:
        record_type = hit.get("record_type")
        title = str(hit.get("short_description") or hit.get("title") or "")
        score = float(hit.get("score") or 0.0)
        if record_type == "knowledge_article":
            if hit.get("state", "published") != "published":
                continue
            answers.append(
                {
                    "kind": "knowledge_article",
                    "number": hit["number"],
                    "title": title,
                    "short_description": title,
                    "url": hit.get("url") or f"/api/v1/knowledge/{hit['number']}",
                    "suggested_fix": hit.get("excerpt") or hit.get("suggested_fix"),
                    "score": score,
                }
            )
        elif record_type in ("incident", "problem"):
            fix = hit.get("suggested_fix")
            if not fix or hit.get("state") not in ("resolved", "closed"):
                continue
            if staff:
                answers.append(
                    {
                        "kind": "ticket_fix",
                        "number": hit["number"],
                        "title": title,
                        "short_description": title,
                        "url": hit.get("url"),
                        "suggested_fix": fix,
                        "score": score,
                    }
                )
            elif hit.get("fix_shareable") is True:
                answers.append(
                    {
                        "kind": "ticket_fix",
                        "number": None,
                        "title": SHARED_FIX_TITLE,
                        "short_description": SHARED_FIX_TITLE,
                        "url": None,
                        "suggested_fix": scrub(fix),
                        "score": score,
                    }
                )
        if len(answers) >= k:
            break
    return answers


# -------------------------------------------------------------------------------------------- catalog

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are can could do for get give have i i'd id im in is it me my need new of on or please the "
    "to want we with would like request order some".split()
)


def _tokens(text: str | None) -> set[str]:
    out = set()
    for word in _WORD.findall((text or "").lower()):
        if word in _STOP or len(word) < 2:
            continue
        out.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return out


def match_catalog(*, db_session: Session, text: str, limit: int = 3) -> list[tuple[CatalogItem, float]]:
    """Active catalog items whose name or description shares words with the text, best first."""
    query = _tokens(text)
    if not query:
        return []
    scored = []
    for item in db_session.scalars(select(CatalogItem).where(CatalogItem.active.is_(True))):
        name = _tokens(item.name)
        rest = _tokens(" ".join(filter(None, (item.short_description, item.description, item.category))))
        score = 2.0 * len(query & name) + len(query & (rest - name))
        if score > 0:
            scored.append((item, score / (2.0 * len(query))))
    scored.sort(key=lambda pair: (-pair[1], pair[0].name))
    return scored[:limit]
