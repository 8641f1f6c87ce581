"""Priority from impact x urgency through a configurable lookup matrix."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from itsm_ai.base.levels import Priority

LEVELS = (1, 2, 3)
PRIORITIES = (1, 2, 3, 4)


@dataclass(frozen=True, eq=False)
class PriorityMatrix:
    """A lookup (impact, urgency) -> priority covering all nine pairs of levels 1..3 with priorities 1..4."""

    table: Mapping[tuple[int, int], int]

    def __post_init__(self) -> None:
        table: dict[tuple[int, int], int] = {}
        for key, value in dict(self.table).items():
            if not (isinstance(key, tuple) and len(key) == 2 and all(k in LEVELS for k in key)):
                raise ValueError(
                    f"priority matrix key {key!r} must be an (impact, urgency) pair of 1, 2 or 3"
                )
            if isinstance(value, bool) or value not in PRIORITIES:
                raise ValueError(f"priority matrix value for {key!r} must be 1..4, got {value!r}")
            table[(int(key[0]), int(key[1]))] = int(value)
        missing = [(i, u) for i in LEVELS for u in LEVELS if (i, u) not in table]
        if missing:
            raise ValueError(f"priority matrix misses (impact, urgency) pairs {missing}")
        object.__setattr__(self, "table", MappingProxyType(table))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PriorityMatrix) and dict(self.table) == dict(other.table)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.table.items())))

    @classmethod
    def from_json(cls, obj: Mapping[str, Mapping[str, int]]) -> "PriorityMatrix":
        """Build from stored JSON `{"<impact>": {"<urgency>": priority}}`."""
        if not isinstance(obj, Mapping):
            raise ValueError("priority matrix must be an object {impact: {urgency: priority}}")
        table: dict[tuple[int, int], int] = {}
        for impact, row in obj.items():
            if not isinstance(row, Mapping):
                raise ValueError(f"priority matrix row {impact!r} must be an object {{urgency: priority}}")
            for urgency, value in row.items():
                try:
                    table[(int(impact), int(urgency))] = value
                except ValueError:
                    raise ValueError(f"priority matrix key {impact!r}/{urgency!r} is not a level") from None
        return cls(table)

    def to_json(self) -> dict[str, dict[str, int]]:
        """The JSON form read by from_json."""
        return {str(i): {str(u): self.table[(i, u)] for u in LEVELS} for i in LEVELS}

    def priority(self, impact: int, urgency: int) -> Priority:
        """The priority of an (impact, urgency) pair."""
        for name, level in (("impact", impact), ("urgency", urgency)):
            if isinstance(level, bool) or level not in LEVELS:
                raise ValueError(f"{name} must be 1, 2 or 3, got {level!r}")
        return Priority(self.table[(int(impact), int(urgency))])


# ServiceNow's default lookup as seen in the real event log
# (../shared/data/servicenow_incident_event_log*.csv): every observed pair matches it. Neither log contains
# impact 1 / urgency 3; it is 3 (Moderate) like its mirror image 3/1 (observed), as in ServiceNow's default
# lookup. ServiceNow's fifth level (5 - Planning, for 3/3) is in neither the data nor our Priority enum: 3/3
# is 4 - Low, as the data shows.
DEFAULT_MATRIX = PriorityMatrix(
    {
        (1, 1): 1,
        (1, 2): 2,
        (1, 3): 3,
        (2, 1): 2,
        (2, 2): 3,
        (2, 3): 4,
        (3, 1): 3,
        (3, 2): 4,
        (3, 3): 4,
    }
)


def compute_priority(impact: int, urgency: int, matrix: PriorityMatrix = DEFAULT_MATRIX) -> Priority:
    """The priority of an incident from its impact and urgency (1 = high)."""
    return matrix.priority(impact, urgency)


_LABEL = re.compile(r"^\s*(\d+)\s*(?:-.*)?$")


def level_from_label(label: str | int) -> int:
    """The number of a ServiceNow choice label such as "2 - Medium" (or a bare 2)."""
    if isinstance(label, int) and not isinstance(label, bool):
        return label
    match = _LABEL.match(str(label))
    if not match:
        raise ValueError(f"{label!r} is not a level label like '2 - Medium'")
    return int(match.group(1))
