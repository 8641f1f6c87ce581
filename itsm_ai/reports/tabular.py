"""Report rows as CSV that a spreadsheet opens safely.

A text cell starting with =, +, -, @ (or a tab or carriage return, which some spreadsheets skip before such a
character) would run as a formula when the file is opened (CSV injection); such cells get a leading
apostrophe, which spreadsheets show as text. Numbers are written as numbers: -3 is a value, not a formula.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The cell as written to CSV: None empty, floats rounded, formula-like text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return "" if math.isnan(value) else round(value, 6)
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


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The rows as CSV text with a header line (RFC 4180 quoting, \\r\\n line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(c) for c in columns])
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])
    return buffer.getvalue()
