"""Knowledge article spec and the values derived on write (author, publication dates, article version)."""

from __future__ import annotations

from typing import Any

from itsm_ai.auth.models import User
from itsm_ai.base.record_types import NUMBER_PREFIXES, RecordType
from itsm_ai.base.roles import ADMINS, EVERYONE, STAFF
from itsm_ai.base.states import ArticleState
from itsm_ai.database import utcnow
from itsm_ai.knowledge.article.models import ArticleCreate, ArticleRead, ArticleUpdate, KnowledgeArticle
from itsm_ai.records.spec import Access, RecordSpec, Ref
from itsm_ai.workflow.service import enforce_transition


def _on_create(obj: KnowledgeArticle, *, db_session, actor) -> None:
    obj.state = ArticleState.draft
    if actor is not None and obj.author_id is None:
        obj.author_id = actor.id


def _on_update(
    obj: KnowledgeArticle, *, db_session, previous: dict[str, Any], changes, actor
) -> list[tuple[str, Any, Any]]:
    derived = []
    changed = {c[0] for c in changes}
    if changed & {"text", "short_description"}:
        derived.append(("article_version", obj.article_version, obj.article_version + 1))
        obj.article_version += 1
    if "state" in changed:
        enforce_transition(record_type=obj.record_type, from_state=previous.get("state"), obj=obj)
        if obj.state == ArticleState.published:
            derived.append(("published_at", obj.published_at, utcnow()))
            obj.published_at = derived[-1][2]
        elif obj.state == ArticleState.retired:
            derived.append(("retired_at", obj.retired_at, utcnow()))
            obj.retired_at = derived[-1][2]
    return derived


ARTICLE = RecordSpec(
    record_type=str(RecordType.knowledge_article),
    noun="knowledge article",
    path="knowledge",
    model=KnowledgeArticle,
    create_schema=ArticleCreate,
    update_schema=ArticleUpdate,
    read_schema=ArticleRead,
    access=Access(
        create=STAFF,
        read=EVERYONE,
        update=STAFF,
        delete=ADMINS,
        requester_visible=lambda a: a.state == ArticleState.published,
        requester_scope={"state": ArticleState.published.value},
    ),
    prefix=NUMBER_PREFIXES[RecordType.knowledge_article],
    refs={"author": Ref("author_id", "author_ref", User, "username", "user")},
    filters={"number": str, "state": str, "category": str, "author": str, "correlation_id": str},
    range_field="updated_at",
    sort_fields=("updated_at", "created_at", "number", "id", "view_count", "helpful_count"),
    default_sort="-updated_at",
    search_fields=("short_description", "text"),
    on_create=_on_create,
    on_update=_on_update,
)
