"""No-code rule conditions stored as JSON, validated with a path to the bad part, evaluated on a ticket.

Grammar:

    condition := {} | null                          (always true)
               | {"all": [condition, ...]}          (every one; at least one item)
               | {"any": [condition, ...]}          (at least one; at least one item)
               | {"not": condition}
               | {"field": "a.b.c", "op": OP, "value": ...}

`field` is a dotted path into nested mappings (and list indexes), so ML suggestions and their confidence can
drive rules: triage stores them under `suggestions.fields.<field>`, e.g.
`suggestions.fields.category.confidence`, `suggestions.fields.category.value` or
`suggestions.fields.category.status` ("suggested", "applied", "abstained", ...).
A missing field reads as None.

Comparisons never raise on a ticket's data: a value of another type (or None) simply does not match.
`changed`, `changed_to` and `changed_from` compare the ticket with `previous` (its values before the update);
without `previous` (a "created" trigger) nothing has changed.
"""

import re
from collections.abc import Mapping, Sequence
from enum import Enum
from functools import lru_cache
from typing import Any


class ConditionError(ValueError):
    """A malformed condition; `path` names the bad part, e.g. `conditions.all[1].op`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

NO_VALUE_OPS = frozenset({"is_empty", "is_not_empty", "changed"})
LIST_OPS = frozenset({"in", "not_in"})
ORDER_OPS = frozenset({"lt", "lte", "gt", "gte"})
STRING_OPS = frozenset({"icontains", "starts_with", "matches"})
OPS = frozenset(
    {"eq", "ne", "contains", "changed_to", "changed_from"} | NO_VALUE_OPS | LIST_OPS | ORDER_OPS | STRING_OPS
)
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def resolve(data: Mapping[str, Any] | None, path: str) -> Any:
    """The value at a dotted path in nested mappings/lists, or MISSING."""
    current: Any = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, Sequence) and not isinstance(current, str) and part.isdigit():
            index = int(part)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def validate_condition(obj: Any, *, path: str = "conditions") -> None:
    """Raise ConditionError naming the first bad part of a stored condition."""
    if obj is None:
        return
    if not isinstance(obj, Mapping):
        raise ConditionError(path, f"must be an object, got {type(obj).__name__}")
    if not obj:
        return
    groups = [k for k in ("all", "any", "not") if k in obj]
    if groups:
        if len(obj) != 1:
            raise ConditionError(path, f"a group must have exactly one key, got {sorted(obj)}")
        key = groups[0]
        if key == "not":
            if not obj["not"]:
                raise ConditionError(f"{path}.not", "must be a non-empty condition")
            validate_condition(obj["not"], path=f"{path}.not")
            return
        items = obj[key]
        if not isinstance(items, list) or not items:
            raise ConditionError(f"{path}.{key}", "must be a non-empty list of conditions")
        for index, item in enumerate(items):
            validate_condition(item, path=f"{path}.{key}[{index}]")
        return
    unknown = set(obj) - {"field", "op", "value"}
    if unknown:
        raise ConditionError(path, f"unknown keys {sorted(unknown)}; expected all/any/not or field/op/value")
    field = obj.get("field")
    if not isinstance(field, str) or not _FIELD.match(field):
        raise ConditionError(f"{path}.field", f"must be a dotted field name like 'priority', got {field!r}")
    op = obj.get("op")
    if op not in OPS:
        raise ConditionError(
            f"{path}.op", f"unknown operator {op!r}; expected one of {', '.join(sorted(OPS))}"
        )
    if op in NO_VALUE_OPS:
        if "value" in obj:
            raise ConditionError(f"{path}.value", f"operator {op!r} takes no value")
        return
    if "value" not in obj:
        raise ConditionError(f"{path}.value", f"operator {op!r} needs a value")
    value = obj["value"]
    if op in LIST_OPS and not isinstance(value, list):
        raise ConditionError(f"{path}.value", f"operator {op!r} needs a list")
    if op in ORDER_OPS and (isinstance(value, bool) or not isinstance(value, int | float | str)):
        raise ConditionError(f"{path}.value", f"operator {op!r} needs a number or a string")
    if op in STRING_OPS and not isinstance(value, str):
        raise ConditionError(f"{path}.value", f"operator {op!r} needs a string")
    if op == "matches":
        try:
            _regex(value)
        except re.error as exc:
            raise ConditionError(f"{path}.value", f"invalid regular expression: {exc}") from None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _is_empty(value: Any) -> bool:
    if value is MISSING or value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return not value
    return False


def _ordered(op: str, left: Any, right: Any) -> bool:
    if left is MISSING or left is None or isinstance(left, bool):
        return False
    # Numbers compare with numbers and strings with strings; anything else does not match.
    if isinstance(right, str) != isinstance(left, str):
        return False
    try:
        if op == "lt":
            return left < right
        if op == "lte":
            return left <= right
        if op == "gt":
            return left > right
        return left >= right
    except TypeError:
        return False


def _contains(container: Any, item: Any, *, fold: bool) -> bool:
    if isinstance(container, str):
        if not isinstance(item, str):
            return False
        return item.casefold() in container.casefold() if fold else item in container
    if isinstance(container, Mapping | list | tuple | set | frozenset):
        members = [_plain(m) for m in container]
        if fold:
            return any(isinstance(m, str) and m.casefold() == str(item).casefold() for m in members)
        return item in members
    return False


def _leaf(cond: Mapping[str, Any], ticket: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
    op = cond["op"]
    current = _plain(resolve(ticket, cond["field"]))
    value = cond.get("value")
    if op in ("changed", "changed_to", "changed_from"):
        if previous is None:
            return False
        before = _plain(resolve(previous, cond["field"]))
        norm_now = None if current is MISSING else current
        norm_before = None if before is MISSING else before
        if norm_now == norm_before:
            return False
        if op == "changed_to":
            return norm_now == value
        if op == "changed_from":
            return norm_before == value
        return True
    if op == "is_empty":
        return _is_empty(current)
    if op == "is_not_empty":
        return not _is_empty(current)
    plain = None if current is MISSING else current
    if op == "eq":
        return plain == value
    if op == "ne":
        return plain != value
    if op == "in":
        return plain in value
    if op == "not_in":
        return plain not in value
    if op in ORDER_OPS:
        return _ordered(op, current, value)
    if op == "contains":
        return _contains(current, value, fold=False)
    if op == "icontains":
        return _contains(current, value, fold=True)
    if op == "starts_with":
        return isinstance(current, str) and current.startswith(value)
    # matches
    return isinstance(current, str) and _regex(value).search(current) is not None


def _evaluate(
    cond: Mapping[str, Any] | None, ticket: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> bool:
    if not cond:
        return True
    if "all" in cond:
        return all(_evaluate(c, ticket, previous) for c in cond["all"])
    if "any" in cond:
        return any(_evaluate(c, ticket, previous) for c in cond["any"])
    if "not" in cond:
        return not _evaluate(cond["not"], ticket, previous)
    return _leaf(cond, ticket, previous)


def evaluate(
    condition: Mapping[str, Any] | None,
    ticket: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
) -> bool:
    """True when `ticket` (with `previous` values for update triggers) satisfies the condition."""
    validate_condition(condition)
    return _evaluate(condition, ticket, previous)
