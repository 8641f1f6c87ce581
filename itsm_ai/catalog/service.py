"""Service catalog spec, and the check of a request's answers against its item's questions."""

from __future__ import annotations

import re
from typing import Any

from itsm_ai.auth.models import User
from itsm_ai.base.roles import ADMINS, EVERYONE
from itsm_ai.catalog.models import CatalogItem, CatalogItemCreate, CatalogItemRead, CatalogItemUpdate
from itsm_ai.errors import InvalidInputError
from itsm_ai.group.models import Group
from itsm_ai.records.spec import Access, RecordSpec, Ref


def _on_create(obj: CatalogItem, *, db_session, actor) -> None:
    if obj.variables:
        obj.variables = [v if isinstance(v, dict) else v.model_dump() for v in obj.variables]


def _on_update(obj: CatalogItem, *, db_session, previous, changes, actor) -> list:
    _on_create(obj, db_session=None, actor=actor)
    return []


CATALOG_ITEM = RecordSpec(
    record_type="catalog_item",
    noun="catalog item",
    path="catalog-items",
    model=CatalogItem,
    create_schema=CatalogItemCreate,
    update_schema=CatalogItemUpdate,
    read_schema=CatalogItemRead,
    access=Access(
        create=ADMINS,
        read=EVERYONE,
        update=ADMINS,
        delete=ADMINS,
        requester_visible=lambda item: item.active,
        requester_scope={"active": True},
    ),
    refs={
        "fulfilment_group": Ref("fulfilment_group_id", "fulfilment_group_ref", Group, "name", "group"),
        "approval_group": Ref("approval_group_id", "approval_group_ref", Group, "name", "group"),
        "approver": Ref("approver_id", "approver_ref", User, "username", "user"),
    },
    filters={"name": str, "category": str, "active": bool},
    range_field=None,
    sort_fields=("name", "id", "category", "price"),
    default_sort="name",
    search_fields=("name", "short_description", "description"),
    on_create=_on_create,
    on_update=_on_update,
)


# Every request form offers a free-text justification, whether or not the item asks a question of that name.
JUSTIFICATION = "justification"
# A request's answers travel in its `variables` field: errors name `variables.<question>`.
ANSWERS = "variables"
MAX_TEXT_ANSWER = 500
MAX_JUSTIFICATION = 2000
INT_RANGE = (-(2**31), 2**31 - 1)  # stored in JSON, but read back into INTEGER-typed report columns elsewhere


def check_answers(*, questions: list[dict] | None, answers: dict[str, Any] | None) -> dict[str, Any]:
    """A request's answers checked against its item's questions, unanswered ones dropped (else 422)."""
    by_name = {q["name"]: q for q in questions or []}
    given = {k: v for k, v in (answers or {}).items() if v is not None and v != ""}
    for key in given:
        if key not in by_name and key != JUSTIFICATION:
            known = ", ".join(sorted({*by_name, JUSTIFICATION}))
            field = f"{ANSWERS}.{key}"
            raise InvalidInputError(f"{field}: the item asks no such question (it asks {known})", field=field)
    out: dict[str, Any] = {}
    for key, value in given.items():
        question = by_name.get(key) or {"name": key, "label": "Justification", "type": "justification"}
        out[key] = _check_answer(question, value)
    for name, question in by_name.items():
        if question.get("required") and name not in out:
            raise InvalidInputError(
                f"{ANSWERS}.{name}: {question.get('label') or name} is required", field=f"{ANSWERS}.{name}"
            )
    return out


def _check_answer(question: dict[str, Any], value: Any) -> Any:
    key, kind = question["name"], question.get("type") or "string"
    field = f"{ANSWERS}.{key}"
    if kind == "boolean":
        if not isinstance(value, bool):
            raise InvalidInputError(f"{field}: expected true or false", field=field)
        return value
    if kind == "integer":
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value.strip()):
            value = int(value)  # a form field's text
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"{field}: expected a whole number", field=field)
        if not INT_RANGE[0] <= value <= INT_RANGE[1]:
            raise InvalidInputError(f"{field}: {value} is out of range", field=field)
        return value
    if not isinstance(value, str):
        raise InvalidInputError(f"{field}: expected text", field=field)
    if kind == "choice":
        choices = question.get("choices") or []
        if value not in choices:
            raise InvalidInputError(
                f"{field}: {value[:80]!r} is not one of the choices ({', '.join(choices)})", field=field
            )
        return value
    limit = MAX_JUSTIFICATION if kind == "justification" else MAX_TEXT_ANSWER
    if len(value) > limit:
        raise InvalidInputError(f"{field}: at most {limit} characters ({len(value)} given)", field=field)
    return value
