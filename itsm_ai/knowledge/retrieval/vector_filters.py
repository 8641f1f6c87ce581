"""Payload filters for the vector index: JSON-safe payloads and filter -> predicate compilation.

A payload is a small dict per id (``type``, ``state``, ``category``, ``opened_at``, ...); a filter is a
callable on it or a dict of field conditions. ``vector_search`` applies the compiled predicate.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np

Filter = Callable[[Mapping[str, Any]], bool] | Mapping[str, Any]
Predicate = Callable[[Mapping[str, Any]], bool]


def clean_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy a payload, storing dates as ISO-8601 strings so that it round-trips through JSON."""
    out: dict[str, Any] = {}
    for key, value in (payload or {}).items():
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, np.generic):
            value = value.item()
        out[str(key)] = value
    return out


def compile_filter(flt: Filter | None) -> Predicate | None:
    """Turn a filter (callable on the payload, or a dict of field conditions) into a predicate.

    In a dict, a scalar value means equality, a list/tuple/set means membership and a callable is
    applied to the field's value (for ranges: ``{"opened_at": lambda v: v >= "2024-01-01"}``).
    A missing field never matches.
    """
    if flt is None:
        return None
    if callable(flt):
        return flt
    if not isinstance(flt, Mapping):
        raise TypeError("filter must be a callable or a dict of field conditions")
    conditions = []
    for field, cond in flt.items():
        if isinstance(cond, datetime | date):
            cond = cond.isoformat()
        if callable(cond):
            conditions.append((field, "call", cond))
        elif isinstance(cond, Collection) and not isinstance(cond, str | bytes):
            conditions.append((field, "in", frozenset(cond)))
        else:
            conditions.append((field, "eq", cond))
    missing = object()

    def predicate(payload: Mapping[str, Any]) -> bool:
        for field, op, cond in conditions:
            value = payload.get(field, missing)
            if value is missing:
                return False
            if op == "eq":
                if value != cond:
                    return False
            elif op == "in":
                if value not in cond:
                    return False
            elif not cond(value):
                return False
        return True

    return predicate
