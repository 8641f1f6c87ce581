"""Import results: what an import read, stored, skipped and refused, its row problems and its errors.

See `itsm_ai.data.importer` for how a file becomes records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from itsm_ai.errors import InvalidInputError

ProgressFn = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is "read", "validate" or "write"."""


@dataclass(frozen=True)
class RowProblem:
    """A bad row: its line number in the file, the field (or column) and why."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    """What an import read, stored, skipped and refused."""

    path: str
    record_type: str
    source_format: str
    encoding: str = "utf-8"
    rows: int = 0
    records: int = 0
    imported: int = 0
    skipped: int = 0
    bad: list[RowProblem] = field(default_factory=list)
    bad_rows: int = 0
    notes: Counter[str] = field(default_factory=Counter)
    note_lines: dict[str, list[int]] = field(default_factory=dict)
    self_mapped: dict[str, str] = field(default_factory=dict)
    unmapped_columns: list[str] = field(default_factory=list)
    users_created: int = 0
    groups_created: int = 0
    audit_events: int = 0
    first_number: str | None = None
    last_number: str | None = None
    dry_run: bool = False
    written: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no row was refused."""
        return not self.bad

    def note(self, kind: str, line: int) -> None:
        """Count a non-fatal fix-up of a row (kept with the first few line numbers)."""
        self.notes[kind] += 1
        lines = self.note_lines.setdefault(kind, [])
        if len(lines) < 5 and (not lines or lines[-1] != line):
            lines.append(line)

    def summary(self) -> str:
        """One line: imported / skipped / bad counts."""
        verb = "would import" if self.dry_run else "imported"
        return (
            f"{verb} {self.imported} {self.record_type} records, skipped {self.skipped} already imported, "
            f"{self.bad_rows} bad rows ({self.rows} rows read, {self.records} records)"
        )


class ImportFileError(InvalidInputError):
    """The file or the options cannot be used at all (missing file, unknown column or field)."""
