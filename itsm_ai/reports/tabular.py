"""Rows as CSV that a spreadsheet opens safely: the one CSV writer of reports and of record exports.

A text cell starting with =, +, -, @ (or a tab or carriage return, which some spreadsheets skip before such a
character) would run as a formula when the file is opened (CSV injection, OWASP); such cells get a leading
apostrophe, which spreadsheets show as text. Numbers are written as numbers: -3 is a value, not a formula.
Lists and dicts (`extra`, `keywords`, ...) are written as JSON, never as Python's repr. Every value holding a
newline or a bare carriage return is quoted (RFC 4180, \\r\\n line ends), so no cell splits a row.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any, float_digits: int | None = 6) -> Any:
    """The cell as written: None empty, floats rounded, containers as JSON, formula-like text neutralised."""
    if value is None:
        return ""
    # The common cells first, by exact type (the isinstance checks below against the abstract number types
    # cost more than the write itself on a report of many rows).
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        if math.isnan(value):
            return ""
        return value if float_digits is None else round(value, float_digits)
    if kind is str:
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return int(value)
    # Decimal (PostgreSQL's numeric) is a number too, though not a numbers.Real.
    if isinstance(value, numbers.Real | Decimal):
        number = float(value)
        if math.isnan(number):
            return ""
        return number if float_digits is None else round(number, float_digits)
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        # JSON starts with {, [ or a digit/quote/letter, never with a formula character.
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return json.dumps(items, default=str, sort_keys=True, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def columns_of(rows: Sequence[Mapping[str, Any]], first: Sequence[str] = ()) -> list[str]:
    """Every key of the rows, `first` ones first, then in order of appearance."""
    out = list(first)
    seen = set(out)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                out.append(key)
    return out


def write_rows(
    handle: TextIO, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, float_digits: int | None = 6
) -> int:
    """Write a header and value rows (in the order of `columns`) to a text handle; returns the row count.

    Reports round floats to `float_digits`; exports pass None to keep every digit.
    """
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in columns])
    written = 0
    for row in rows:
        writer.writerow([safe_cell(v, float_digits) for v in row])
        written += 1
    return written


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The rows (dicts) as CSV text with a header line (RFC 4180 quoting, \\r\\n line ends)."""
    buffer = io.StringIO()
    write_rows(buffer, columns, ([row.get(c) for c in columns] for row in rows))
    return buffer.getvalue()
