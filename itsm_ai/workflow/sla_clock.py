"""Pure SLA maths: policy selection and response/resolution clocks computed from a ticket's state history.

A clock is always recomputed from the full history (timestamped states) and `now`, never stored incrementally,
so:

- a pause is a true pause: business time spent in a paused state (e.g. on_hold) never counts;
- changing priority (hence policy) keeps the history, so time already paused stays paused;
- a reopen (resolved -> in_progress) resumes the resolution clock from the elapsed time it had: time spent
  resolved never counts.

Deadlines are in business time on the policy's calendar. The deadline is the instant at which elapsed business
time reaches the target: once reached it is fixed in the past (the breach); while paused or stopped it is
projected as if the clock resumed now (paused) or at the stop (stopped), so it never moves earlier as `now`
grows. Reaching the target counts as a breach; a clock stopped with less elapsed time than the target is met.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from itsm_ai.base.states import IncidentState
from itsm_ai.workflow.business_calendar import CALENDAR_24X7, BusinessCalendar
from itsm_ai.workflow.conditions import evaluate, validate_condition


class SlaKind(StrEnum):
    response = "response"
    resolution = "resolution"


class SlaStage(StrEnum):
    in_progress = "in_progress"
    paused = "paused"
    warning = "warning"
    breached = "breached"
    met = "met"
    cancelled = "cancelled"


class ClockEventKind(StrEnum):
    start = "start"
    pause = "pause"
    resume = "resume"
    warning = "warning"
    breach = "breach"
    stop = "stop"


class _Phase(StrEnum):
    counting = "counting"
    paused = "paused"
    stopped = "stopped"
    cancelled = "cancelled"


@dataclass(frozen=True)
class ClockEvent:
    """One audited clock change; `state` is the ticket state that caused it (None for warning/breach)."""

    at: datetime
    kind: ClockEventKind
    state: str | None = None


_POLICY_KEYS = (
    "name",
    "response_target_minutes",
    "resolution_target_minutes",
    "calendar",
    "condition",
    "warning_percent",
    "paused_states",
    "response_states",
    "stop_states",
    "cancel_states",
)


@dataclass(frozen=True, eq=False)
class SlaPolicy:
    """Targets (business durations on `calendar`) for tickets matching `condition` (conditions.py JSON)."""

    name: str
    response_target: timedelta
    resolution_target: timedelta
    calendar: BusinessCalendar = CALENDAR_24X7
    condition: Mapping[str, Any] | None = None
    warning_percent: float = 75.0
    paused_states: frozenset[str] = frozenset({IncidentState.on_hold})
    response_states: frozenset[str] = frozenset({IncidentState.new})
    stop_states: frozenset[str] = frozenset({IncidentState.resolved, IncidentState.closed})
    cancel_states: frozenset[str] = frozenset({IncidentState.cancelled})

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("SLA policy needs a name")
        for label, target in (
            ("response_target", self.response_target),
            ("resolution_target", self.resolution_target),
        ):
            if not isinstance(target, timedelta) or target <= timedelta(0):
                raise ValueError(f"SLA policy {self.name!r}: {label} must be a positive duration")
        percent = self.warning_percent
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 < percent <= 100:
            raise ValueError(f"SLA policy {self.name!r}: warning_percent must be in (0, 100]")
        validate_condition(self.condition, path=f"policies[{self.name}].condition")
        for label in ("paused_states", "response_states", "stop_states", "cancel_states"):
            object.__setattr__(self, label, frozenset(str(s) for s in getattr(self, label)))
        overlap = (self.paused_states & self.stop_states) | (
            self.cancel_states & (self.paused_states | self.stop_states)
        )
        if overlap:
            raise ValueError(f"SLA policy {self.name!r}: states {sorted(overlap)} are in two clock roles")

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "SlaPolicy":
        """Build from stored JSON; targets are business minutes, `calendar` is BusinessCalendar JSON."""
        if not isinstance(obj, Mapping):
            raise ValueError("SLA policy must be an object")
        unknown = set(obj) - set(_POLICY_KEYS)
        if unknown:
            raise ValueError(f"SLA policy has unknown keys {sorted(unknown)}")
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("SLA policy name must be a non-empty string")
        targets = {}
        for key in ("response_target_minutes", "resolution_target_minutes"):
            value = obj.get(key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"policies[{name}].{key} must be a whole number of minutes")
            targets[key] = timedelta(minutes=value)
        states = {}
        for key in ("paused_states", "response_states", "stop_states", "cancel_states"):
            if key in obj:
                if not isinstance(obj[key], list) or not all(isinstance(s, str) for s in obj[key]):
                    raise ValueError(f"policies[{name}].{key} must be a list of state names")
                states[key] = frozenset(obj[key])
        calendar = BusinessCalendar.from_json(obj["calendar"]) if obj.get("calendar") else CALENDAR_24X7
        return cls(
            name=name,
            response_target=targets["response_target_minutes"],
            resolution_target=targets["resolution_target_minutes"],
            calendar=calendar,
            condition=obj.get("condition") or None,
            warning_percent=obj.get("warning_percent", 75.0),
            **states,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        return {
            "name": self.name,
            "response_target_minutes": self.response_target // timedelta(minutes=1),
            "resolution_target_minutes": self.resolution_target // timedelta(minutes=1),
            "calendar": self.calendar.to_json(),
            "condition": dict(self.condition) if self.condition else None,
            "warning_percent": self.warning_percent,
            "paused_states": sorted(self.paused_states),
            "response_states": sorted(self.response_states),
            "stop_states": sorted(self.stop_states),
            "cancel_states": sorted(self.cancel_states),
        }

    @property
    def is_fallback(self) -> bool:
        """True for a policy without conditions (used when no other policy matches)."""
        return not self.condition

    def matches(self, ticket: Mapping[str, Any]) -> bool:
        """True when the ticket satisfies the policy's condition."""
        return evaluate(self.condition, ticket)

    def target(self, kind: SlaKind | str) -> timedelta:
        """The response or resolution target."""
        return self.response_target if SlaKind(kind) == SlaKind.response else self.resolution_target


def policy_condition(
    *,
    record_type: str | None = None,
    priorities: Sequence[int] | None = None,
    services: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    caller_organisations: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The condition JSON selecting by record type, priority, service, category and caller organisation."""
    parts: list[dict[str, Any]] = []
    if record_type is not None:
        parts.append({"field": "record_type", "op": "eq", "value": str(record_type)})
    for name, values in (
        ("priority", priorities),
        ("service", services),
        ("category", categories),
        ("caller_organisation", caller_organisations),
    ):
        if values is not None:
            parts.append(
                {"field": name, "op": "in", "value": [int(v) if name == "priority" else v for v in values]}
            )
    return {"all": parts} if parts else {}


class NoPolicyError(LookupError):
    """No policy matched and none is a fallback."""


def select_policy(ticket: Mapping[str, Any], policies: Sequence[SlaPolicy]) -> SlaPolicy:
    """The first policy with conditions that matches, else the first policy without conditions."""
    for policy in policies:
        if not policy.is_fallback and policy.matches(ticket):
            return policy
    for policy in policies:
        if policy.is_fallback:
            return policy
    raise NoPolicyError(f"no SLA policy matches and none of {[p.name for p in policies]} is a fallback")


@dataclass(frozen=True)
class SlaClock:
    """The state of one SLA clock at `now`."""

    policy: str
    kind: SlaKind
    target: timedelta
    started_at: datetime
    now: datetime
    deadline: datetime
    elapsed: timedelta
    paused: timedelta
    percent: float
    stage: SlaStage
    breach_at: datetime | None
    warning_at: datetime | None
    stopped_at: datetime | None
    events: tuple[ClockEvent, ...] = field(default_factory=tuple)

    @property
    def breached(self) -> bool:
        """True when the elapsed business time has reached the target."""
        return self.elapsed >= self.target

    @property
    def remaining(self) -> timedelta:
        """Business time left before the breach (negative once breached)."""
        return self.target - self.elapsed


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _phase_of(state: str, policy: SlaPolicy, kind: SlaKind, responded: bool) -> _Phase:
    if state in policy.cancel_states:
        return _Phase.cancelled
    if kind == SlaKind.response:
        # The response clock stops for good the first time the ticket leaves its response states.
        return _Phase.counting if (state in policy.response_states and not responded) else _Phase.stopped
    if state in policy.stop_states:
        return _Phase.stopped
    if state in policy.paused_states:
        return _Phase.paused
    return _Phase.counting


def compute_clock(
    history: Sequence[tuple[datetime, str]],
    policy: SlaPolicy,
    *,
    now: datetime,
    kind: SlaKind | str = SlaKind.resolution,
    calendar: BusinessCalendar | None = None,
) -> SlaClock:
    """The SLA clock at `now` from (timestamp, state) events; events after now are ignored."""
    kind = SlaKind(kind)
    cal = calendar or policy.calendar
    _require_aware(now, "now")
    for index, (at, _) in enumerate(history):
        _require_aware(at, f"history[{index}] timestamp")
    now_utc = now.astimezone(UTC)
    # Stable sort: events with the same timestamp keep their recorded order.
    events_in = sorted(
        ((at.astimezone(UTC), str(state)) for at, state in history if at.astimezone(UTC) <= now_utc),
        key=lambda e: e[0],
    )
    if not events_in:
        raise ValueError("the SLA clock needs at least one state event at or before now")
    target = policy.target(kind)
    warn_threshold = target * (policy.warning_percent / 100)

    # Collapse the history into phase segments; a phase change is an audit event.
    audit: list[ClockEvent] = [ClockEvent(events_in[0][0], ClockEventKind.start, events_in[0][1])]
    segments: list[tuple[datetime, _Phase]] = []
    responded = False
    for at, state in events_in:
        phase = _phase_of(state, policy, kind, responded)
        if kind == SlaKind.response and phase != _Phase.counting:
            responded = True
        previous = segments[-1][1] if segments else None
        if phase == previous:
            continue
        segments.append((at, phase))
        if previous is None:
            if phase != _Phase.counting:
                kind_ = ClockEventKind.pause if phase == _Phase.paused else ClockEventKind.stop
                audit.append(ClockEvent(at, kind_, state))
            continue
        if phase == _Phase.paused:
            audit.append(ClockEvent(at, ClockEventKind.pause, state))
        elif phase == _Phase.counting:
            audit.append(ClockEvent(at, ClockEventKind.resume, state))
        elif previous in (_Phase.counting, _Phase.paused) or phase == _Phase.cancelled:
            audit.append(ClockEvent(at, ClockEventKind.stop, state))

    elapsed = paused = timedelta(0)
    elapsed_before_last = timedelta(0)
    warning_at: datetime | None = None
    breach_at: datetime | None = None
    bounds = [at for at, _ in segments[1:]] + [now_utc]
    for (start, phase), end in zip(segments, bounds, strict=True):
        elapsed_before_last = elapsed
        if phase == _Phase.paused:
            paused += cal.business_time_between(start, end)
        elif phase == _Phase.counting:
            span = cal.business_time_between(start, end)
            if warning_at is None and elapsed < warn_threshold <= elapsed + span:
                warning_at = cal.add_business_time(start, warn_threshold - elapsed)
            if breach_at is None and elapsed < target <= elapsed + span:
                breach_at = cal.add_business_time(start, target - elapsed)
            elapsed += span
    if warning_at is not None:
        audit.append(ClockEvent(warning_at, ClockEventKind.warning))
    if breach_at is not None:
        audit.append(ClockEvent(breach_at, ClockEventKind.breach))

    # Thresholds not reached yet are projected from where counting runs or would resume: the start of the
    # current counting segment, now for a paused clock, the stop instant for a stopped one.
    last_at, last_phase = segments[-1]
    running = last_phase in (_Phase.counting, _Phase.paused)
    resume_from = now_utc if last_phase == _Phase.paused else last_at
    deadline = breach_at or cal.add_business_time(resume_from, target - elapsed_before_last)
    if breach_at is None and running:
        breach_at = deadline
    if warning_at is None and running:
        warning_at = cal.add_business_time(resume_from, warn_threshold - elapsed_before_last)

    stopped = last_phase in (_Phase.stopped, _Phase.cancelled)
    if last_phase == _Phase.cancelled:
        stage = SlaStage.cancelled
    elif elapsed >= target:
        stage = SlaStage.breached
    elif stopped:
        stage = SlaStage.met
    elif last_phase == _Phase.paused:
        stage = SlaStage.paused
    elif elapsed >= warn_threshold:
        stage = SlaStage.warning
    else:
        stage = SlaStage.in_progress

    zone = now.tzinfo
    audit.sort(key=lambda e: e.at)
    return SlaClock(
        policy=policy.name,
        kind=kind,
        target=target,
        started_at=segments[0][0].astimezone(zone),
        now=now,
        deadline=deadline.astimezone(zone),
        elapsed=elapsed,
        paused=paused,
        percent=elapsed / target * 100,
        stage=stage,
        breach_at=breach_at.astimezone(zone) if breach_at else None,
        warning_at=warning_at.astimezone(zone) if warning_at else None,
        stopped_at=last_at.astimezone(zone) if stopped else None,
        events=tuple(ClockEvent(e.at.astimezone(zone), e.kind, e.state) for e in audit),
    )
