"""Training data for triage models: labelled tickets from the store (agents' feedback wins) or a CSV.

Bad input raises `DataError` naming the line and/or column, so the CLI can exit 2 with it and the API
answer 422.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.classify.enums import SuggestionStatus
from itsm_ai.classify.estimators.text import ticket_text
from itsm_ai.config import get_settings
from itsm_ai.errors import InvalidInputError

# Ticket fields a model can be trained for (assignment_group is read as the group's name).
TRAINABLE_FIELDS = ("category", "subcategory", "priority", "impact", "urgency", "assignment_group")
INT_FIELDS = ("priority", "impact", "urgency")
RESOLVED_STATES = ("resolved", "closed", "cancelled")


class DataError(ValueError):
    """Bad training or evaluation input; names the line and/or column."""

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass
class TrainingData:
    """Texts and labels (None for unlabelled rows), with ids and snippets kept as evidence."""

    texts: list[str]
    labels: list[Any]
    ids: list[Any]
    snippets: list[str]
    source: dict[str, Any] = field(default_factory=dict)

    def labelled(self) -> int:
        """Rows that carry a label."""
        return sum(1 for label in self.labels if label is not None)


def check_target(target: str) -> str:
    """A trainable ticket field, or 422 naming `target`."""
    if target not in TRAINABLE_FIELDS:
        raise InvalidInputError(
            f"target: {target!r} cannot be trained; one of {', '.join(TRAINABLE_FIELDS)}", field="target"
        )
    return target


def label_value(value: Any, target: str) -> Any:
    """A stored or given field value as a training label: None when empty, a whole number for int fields."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if target in INT_FIELDS:
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    return str(value).strip()


def store_training_data(
    *, db_session: Session, target: str, record_types: Sequence[str] | None = None
) -> TrainingData:
    """Labelled tickets from the store; the latest agent feedback wins over the stored value.

    A value the model applied itself counts only once an agent confirmed it or the ticket was resolved,
    so the model does not learn from its own unreviewed guesses.
    """
    from itsm_ai.classify.models import TriageFeedback
    from itsm_ai.group.models import Group
    from itsm_ai.ticket.service import TICKET_SPECS

    check_target(target)
    record_types = list(record_types or get_settings().triage_record_types)
    feedback: dict[tuple[str, int], Any] = {}
    for row in db_session.execute(
        select(TriageFeedback.record_type, TriageFeedback.record_id, TriageFeedback.final_value)
        .where(TriageFeedback.field == target)
        .order_by(TriageFeedback.id)
    ):
        feedback[(row.record_type, row.record_id)] = row.final_value
    data = TrainingData([], [], [], [])
    counts = Counter()
    for record_type in record_types:
        spec = TICKET_SPECS.get(record_type)
        if spec is None:
            raise InvalidInputError(
                f"record_types: unknown ticket type {record_type!r}", field="record_types"
            )
        table = spec.model.__table__
        columns = [
            table.c.id,
            table.c.number,
            table.c.short_description,
            table.c.description,
            table.c.state,
            table.c.suggestions,
        ]
        if target == "assignment_group":
            groups = Group.__table__
            stmt = select(*columns, groups.c.name.label("label")).select_from(
                table.outerjoin(groups, groups.c.id == table.c.assignment_group_id)
            )
        else:
            stmt = select(*columns, table.c[target].label("label"))
        for row in db_session.execute(stmt.order_by(table.c.id)):
            label = label_value(row.label, target)
            if (record_type, row.id) in feedback:
                label = label_value(feedback[(record_type, row.id)], target)
                counts["feedback"] += 1
            else:
                entry = ((row.suggestions or {}).get("fields") or {}).get(target) or {}
                if (
                    entry.get("status") == SuggestionStatus.applied
                    and not entry.get("feedback")
                    and row.state not in RESOLVED_STATES
                    and label == entry.get("value")
                ):
                    label = None
                    counts["unconfirmed_model_values"] += 1
            data.texts.append(ticket_text(row.short_description, row.description))
            data.labels.append(label)
            data.ids.append(row.number)
            data.snippets.append(row.short_description or "")
    data.source = {
        "kind": "store",
        "record_types": record_types,
        "rows": len(data.texts),
        "labelled": data.labelled(),
        "feedback_labels": counts["feedback"],
        "unconfirmed_model_values_skipped": counts["unconfirmed_model_values"],
    }
    return data


def _decode_lines(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        for number, line in enumerate(raw.split(b"\n"), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}: line {number} is not UTF-8 ({exc.reason})", line=number) from None
        raise


def csv_training_data(
    path: str | Path,
    *,
    text_cols: Sequence[str],
    label_col: str,
    target: str | None = None,
    require_labels: bool = False,
) -> TrainingData:
    """Texts (text columns joined like a ticket's short description and description) and labels from a CSV."""
    path = Path(path)
    if not text_cols:
        raise DataError("give at least one --text-col", column="text_col")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    reader = csv.reader(io.StringIO(_decode_lines(raw, path), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path} is empty", line=1) from None
    except csv.Error as exc:
        raise DataError(f"{path}: line 1: {exc}", line=1) from exc
    header = [h.strip() for h in header]
    for column in [*text_cols, label_col]:
        if column not in header:
            raise DataError(
                f"{path}: no column {column!r} (columns: {', '.join(header)})", line=1, column=column
            )
    text_idx = [header.index(c) for c in text_cols]
    label_idx = header.index(label_col)
    data = TrainingData([], [], [], [])
    try:
        for row in reader:
            line = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{path}: line {line} has {len(row)} fields, the header has {len(header)}", line=line
                )
            texts = [row[i] for i in text_idx]
            raw_label = row[label_idx].strip()
            label = raw_label or None
            if label is not None and target in INT_FIELDS:
                try:
                    label = int(raw_label)
                except ValueError:
                    raise DataError(
                        f"{path}: line {line}, column {label_col!r}: {raw_label!r} is not a whole number",
                        line=line,
                        column=label_col,
                    ) from None
            if label is None and require_labels:
                raise DataError(
                    f"{path}: line {line}, column {label_col!r} is empty", line=line, column=label_col
                )
            data.texts.append(ticket_text(*texts))
            data.labels.append(label)
            data.ids.append(f"line {line}")
            data.snippets.append(next((t for t in texts if t.strip()), ""))
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: {exc}", line=reader.line_num) from exc
    if not data.texts:
        raise DataError(f"{path} has no data rows", line=2)
    data.source = {
        "kind": "csv",
        "path": str(path),
        "text_cols": list(text_cols),
        "label_col": label_col,
        "rows": len(data.texts),
        "labelled": data.labelled(),
    }
    return data
