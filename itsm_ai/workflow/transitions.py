"""Allowed state transitions of every record type, in one table, with the fields each move requires.

`TRANSITIONS` is the single source of truth: record type -> from_state -> allowed to_states. On top of it:

- `CHANGE_TYPE_EDGES` restricts a few change edges to some change types (a standard change is pre-approved
  and goes draft -> scheduled; a normal change draft -> assess; an emergency change draft -> authorize).
- `REQUIREMENTS` lists what a move needs: fields that must be filled in the ticket's values *after* the move,
  and for some moves an approval.

Incident (service desk practice, ServiceNow-like):

    new          -> in_progress, on_hold, resolved, cancelled
    in_progress  -> on_hold, resolved, cancelled
    on_hold      -> in_progress, resolved, cancelled   (entering on_hold needs on_hold_reason)
    resolved     -> closed, in_progress                (in_progress = reopen; entering resolved needs
                                                        resolution_code and resolution_notes)
    closed, cancelled: final

`on_hold -> resolved` is allowed because the awaited answer often *is* the fix (the caller confirms it works):
ServiceNow allows it, and the real event log has 270 such moves in 2,528 (see replay.py).

Problem: new -> assess -> root_cause_analysis -> known_error (needs workaround) -> resolved -> closed;
cancelled from any open state; `root_cause_analysis -> resolved` for a root cause fixed without a workaround.

Change: draft -> assess -> authorize -> scheduled -> implement -> review -> closed; cancelled before
implementation; `authorize -> draft` sends a rejected change back for rework. A normal change needs an
approval, implementation_plan and backout_plan to be scheduled; an emergency change needs the approval only.

Service request: submitted -> approval -> fulfilment -> closed; approval -> rejected; cancelled before
closure; `submitted -> fulfilment` only for catalogue items without approval; approval -> fulfilment needs it.

Knowledge article: draft -> review -> published -> retired; review -> draft.

Moving a record to the state it is already in is a no-op and always allowed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from itsm_ai.base.record_types import RecordType
from itsm_ai.base.states import (
    ArticleState,
    ChangeState,
    ChangeType,
    IncidentState,
    OnHoldReason,
    ProblemState,
    RequestState,
)

ANY_STATE = "*"

_I, _P, _C, _R, _A = IncidentState, ProblemState, ChangeState, RequestState, ArticleState

TRANSITIONS: dict[RecordType, dict[str, frozenset[str]]] = {
    RecordType.incident: {
        _I.new: frozenset({_I.in_progress, _I.on_hold, _I.resolved, _I.cancelled}),
        _I.in_progress: frozenset({_I.on_hold, _I.resolved, _I.cancelled}),
        _I.on_hold: frozenset({_I.in_progress, _I.resolved, _I.cancelled}),
        _I.resolved: frozenset({_I.closed, _I.in_progress}),
        _I.closed: frozenset(),
        _I.cancelled: frozenset(),
    },
    RecordType.problem: {
        _P.new: frozenset({_P.assess, _P.cancelled}),
        _P.assess: frozenset({_P.root_cause_analysis, _P.cancelled}),
        _P.root_cause_analysis: frozenset({_P.known_error, _P.resolved, _P.cancelled}),
        _P.known_error: frozenset({_P.resolved, _P.cancelled}),
        _P.resolved: frozenset({_P.closed}),
        _P.closed: frozenset(),
        _P.cancelled: frozenset(),
    },
    RecordType.change: {
        _C.draft: frozenset({_C.assess, _C.authorize, _C.scheduled, _C.cancelled}),
        _C.assess: frozenset({_C.authorize, _C.cancelled}),
        _C.authorize: frozenset({_C.scheduled, _C.draft, _C.cancelled}),
        _C.scheduled: frozenset({_C.implement, _C.cancelled}),
        # A failed implementation is backed out and recorded in review, so implement cannot be cancelled.
        _C.implement: frozenset({_C.review}),
        _C.review: frozenset({_C.closed}),
        _C.closed: frozenset(),
        _C.cancelled: frozenset(),
    },
    RecordType.service_request: {
        _R.submitted: frozenset({_R.approval, _R.fulfilment, _R.cancelled}),
        _R.approval: frozenset({_R.fulfilment, _R.rejected, _R.cancelled}),
        _R.fulfilment: frozenset({_R.closed, _R.cancelled}),
        _R.closed: frozenset(),
        _R.rejected: frozenset(),
        _R.cancelled: frozenset(),
    },
    RecordType.knowledge_article: {
        _A.draft: frozenset({_A.review}),
        _A.review: frozenset({_A.published, _A.draft}),
        _A.published: frozenset({_A.retired}),
        _A.retired: frozenset(),
    },
}

INITIAL_STATES: dict[RecordType, str] = {
    RecordType.incident: _I.new,
    RecordType.problem: _P.new,
    RecordType.change: _C.draft,
    RecordType.service_request: _R.submitted,
    RecordType.knowledge_article: _A.draft,
}

# Edges only some change types may take; every other change edge is open to all types.
CHANGE_TYPE_EDGES: dict[tuple[str, str], frozenset[ChangeType]] = {
    (_C.draft, _C.assess): frozenset({ChangeType.normal}),
    (_C.draft, _C.authorize): frozenset({ChangeType.emergency}),
    (_C.draft, _C.scheduled): frozenset({ChangeType.standard}),
}

# A change without a type follows the normal model: skipping assessment is a privilege, not a default.
DEFAULT_CHANGE_TYPE = ChangeType.normal

RESOLUTION_FIELDS = ("resolution_code", "resolution_notes")


@dataclass(frozen=True)
class Requirement:
    """What one move needs; `from_state` may be ANY_STATE; `change_types` None means every change type."""

    record_type: RecordType
    from_state: str
    to_state: str
    fields: tuple[str, ...] = ()
    approval: bool = False
    change_types: frozenset[ChangeType] | None = None
    when: str | None = None  # applies only when this field of the record is truthy


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(RecordType.incident, ANY_STATE, _I.on_hold, ("on_hold_reason",)),
    Requirement(RecordType.incident, ANY_STATE, _I.resolved, RESOLUTION_FIELDS),
    Requirement(RecordType.problem, ANY_STATE, _P.known_error, ("workaround",)),
    Requirement(RecordType.problem, ANY_STATE, _P.resolved, RESOLUTION_FIELDS),
    Requirement(
        RecordType.change,
        _C.authorize,
        _C.scheduled,
        ("implementation_plan", "backout_plan"),
        approval=True,
        change_types=frozenset({ChangeType.normal}),
    ),
    # The emergency CAB must approve, but the plans may be written after the fact.
    Requirement(
        RecordType.change,
        _C.authorize,
        _C.scheduled,
        approval=True,
        change_types=frozenset({ChangeType.emergency}),
    ),
    Requirement(RecordType.service_request, _R.approval, _R.fulfilment, approval=True),
    # An item that requires approval cannot skip it by going straight to fulfilment.
    Requirement(
        RecordType.service_request, _R.submitted, _R.fulfilment, approval=True, when="requires_approval"
    ),
)

# Fields whose value must come from a fixed vocabulary when a move requires them.
FIELD_CHOICES: dict[str, frozenset[str]] = {
    "on_hold_reason": frozenset(OnHoldReason),
}


class TransitionError(ValueError):
    """A refused move; `allowed` lists the legal next states, `missing_fields` what must be filled first."""

    def __init__(
        self,
        message: str,
        allowed: list[str],
        missing_fields: list[str],
        *,
        invalid_fields: list[str] | None = None,
        needs_approval: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.allowed = allowed
        self.missing_fields = missing_fields
        self.invalid_fields = invalid_fields or []
        self.needs_approval = needs_approval


def _table(record_type: RecordType | str) -> dict[str, frozenset[str]]:
    try:
        return TRANSITIONS[RecordType(record_type)]
    except (ValueError, KeyError):
        known = ", ".join(str(t) for t in TRANSITIONS)
        raise TransitionError(
            f"record type {record_type!r} has no workflow; known: {known}", [], []
        ) from None


def _check_state(record_type: RecordType | str, state: str) -> dict[str, frozenset[str]]:
    table = _table(record_type)
    if state not in table:
        raise TransitionError(
            f"{record_type}: unknown state {state!r}; states are {', '.join(table)}", [], []
        )
    return table


def _change_type(value: Any) -> ChangeType:
    if value is None or value == "":
        return DEFAULT_CHANGE_TYPE
    try:
        return ChangeType(value)
    except ValueError:
        choices = ", ".join(ChangeType)
        raise TransitionError(
            f"change_type {value!r} is not one of {choices}", [], [], invalid_fields=["change_type"]
        ) from None


def states(record_type: RecordType | str) -> list[str]:
    """All states of a record type, in lifecycle order."""
    return [str(s) for s in _table(record_type)]


def initial_state(record_type: RecordType | str) -> str:
    """The state a new record of this type starts in."""
    _table(record_type)
    return str(INITIAL_STATES[RecordType(record_type)])


def is_terminal(record_type: RecordType | str, state: str) -> bool:
    """True when no move leaves `state`."""
    return not _check_state(record_type, state)[state]


def allowed_next(
    record_type: RecordType | str, state: str, *, change_type: ChangeType | str | None = None
) -> list[str]:
    """The states a record may move to from `state` (sorted in lifecycle order, excluding `state` itself)."""
    table = _check_state(record_type, state)
    order = list(table)
    targets = table[state]
    if RecordType(record_type) == RecordType.change:
        ctype = _change_type(change_type)
        targets = frozenset(
            t for t in targets if ctype in CHANGE_TYPE_EDGES.get((state, t), frozenset(ChangeType))
        )
    return [str(s) for s in sorted(targets, key=order.index)]


def requirements(
    record_type: RecordType | str,
    from_state: str,
    to_state: str,
    *,
    change_type: ChangeType | str | None = None,
    flags: Mapping[str, Any] | None = None,
) -> tuple[list[str], bool]:
    """The fields a move needs and whether it needs an approval (`flags`: the record's conditions)."""
    rtype = RecordType(record_type)
    ctype = _change_type(change_type) if rtype == RecordType.change else None
    fields: list[str] = []
    approval = False
    for req in REQUIREMENTS:
        if req.record_type != rtype or req.to_state != to_state:
            continue
        if req.from_state not in (ANY_STATE, from_state):
            continue
        if req.change_types is not None and ctype not in req.change_types:
            continue
        if req.when is not None and not (flags or {}).get(req.when):
            continue
        fields.extend(f for f in req.fields if f not in fields)
        approval = approval or req.approval
    return fields, approval


def _is_filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return bool(value)
    return True


def check_transition(
    record_type: RecordType | str,
    from_state: str,
    to_state: str,
    fields: Mapping[str, Any],
    *,
    approved: bool = False,
) -> None:
    """Raise TransitionError unless the move is allowed and `fields` (values after it) hold what it needs."""
    table = _check_state(record_type, from_state)
    if to_state not in table:
        raise TransitionError(
            f"{record_type}: unknown state {to_state!r}; states are {', '.join(table)}",
            allowed_next(record_type, from_state, change_type=fields.get("change_type")),
            [],
        )
    if from_state == to_state:
        return
    is_change = RecordType(record_type) == RecordType.change
    change_type = fields.get("change_type") if is_change else None
    allowed = allowed_next(record_type, from_state, change_type=change_type)
    label = f"{record_type} ({_change_type(change_type)})" if is_change else str(record_type)
    if to_state not in allowed:
        nxt = ", ".join(allowed) if allowed else f"none, {from_state!r} is final"
        raise TransitionError(
            f"{label}: cannot move from {from_state!r} to {to_state!r}; allowed next states: {nxt}",
            allowed,
            [],
        )
    needed, needs_approval = requirements(
        record_type, from_state, to_state, change_type=change_type, flags=fields
    )
    missing = [f for f in needed if not _is_filled(fields.get(f))]
    invalid = [
        f
        for f in needed
        if f in FIELD_CHOICES and f not in missing and str(fields[f]) not in FIELD_CHOICES[f]
    ]
    lacks_approval = needs_approval and not approved
    if not (missing or invalid or lacks_approval):
        return
    problems = []
    if lacks_approval:
        problems.append("an approval")
    if missing:
        problems.append("fields " + ", ".join(missing))
    for f in invalid:
        problems.append(f"{f} to be one of {', '.join(sorted(FIELD_CHOICES[f]))} (got {fields[f]!r})")
    raise TransitionError(
        f"{label}: moving from {from_state!r} to {to_state!r} needs {' and '.join(problems)}",
        allowed,
        missing,
        invalid_fields=invalid,
        needs_approval=lacks_approval,
    )
