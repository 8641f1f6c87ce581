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


def safe_column(values: list[Any], float_digits: int | None = 6) -> list[Any]:
    """`safe_cell` of every value of one column, checking the column's types once instead of every cell's.

    A report's columns hold one type each (counts, rates, labels): a column of ints is written as it is, a
    column of text is neutralised once per distinct value (periods and group labels repeat on every row).
    """
    kinds = set(map(type, values))
    if kinds <= {int}:
        return values
    if kinds <= {int, type(None)}:
        return ["" if v is None else v for v in values]
    if kinds <= {float, type(None)} and float_digits is not None:
        # NaN != NaN: empty, as safe_cell writes it.
        return ["" if v is None or v != v else round(v, float_digits) for v in values]
    if kinds <= {str, type(None)}:
        # Keyed by the text itself: exact, since every key is a str or None (no 1 == 1.0 == True merging).
        memo = {v: safe_cell(v, float_digits) for v in set(values)}
        return [memo[v] for v in values]
    return [safe_cell(v, float_digits) for v in values]


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The rows (dicts) as CSV text with a header line (RFC 4180 quoting, \\r\\n line ends).

    Column by column (`safe_column`) and written in one writerows: a report by day and group has tens of
    thousands of rows, where a check per cell cost more than the query.
    """
    rows = list(rows)
    if not columns:  # rows of no cells: write_rows writes their empty lines
        buffer = io.StringIO()
        write_rows(buffer, columns, ([] for _ in rows))
        return buffer.getvalue()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in columns])
    cells = [safe_column([row.get(c) for row in rows]) for c in columns]
    writer.writerows(zip(*cells, strict=True))
    return buffer.getvalue()
