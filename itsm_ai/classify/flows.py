"""Triage orchestration: suggestions on ticket create, agents' accept/override, background training jobs.

`on_record_creating` (engine BEFORE_CREATE) stores `suggestions["fields"]` (and the challengers' shadow
predictions) with the new ticket, and in `auto` mode sets a field when the suggestion clears its class
threshold; `on_record_event` (engine LISTENERS) then audits each applied value as set by the model.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.audit import service as audit_service
from itsm_ai.classify import service
from itsm_ai.classify.enums import FeedbackAction, FieldMode, JobStatus, SuggestionStatus
from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError
from itsm_ai.records.events import RecordEvent

log = logging.getLogger(__name__)

# Fields feedback can set through the normal update path (priority goes through impact and urgency).
SETTABLE_FIELDS = ("category", "subcategory", "assignment_group", "priority", "impact", "urgency")
MODEL_SOURCE = "model"


@dataclass(frozen=True)
class ModelActor:
    """Who the audit trail names for a value the model set: model:<name>@<version>."""

    name: str
    version: str | None

    @property
    def id(self) -> None:
        """No user row: the audit event keeps only the name."""
        return None

    @property
    def username(self) -> str:
        """model:<name>@<version>, as the audit trail shows it."""
        return f"model:{self.name}@{self.version}"


# ------------------------------------------------------------------------------------------ priority


def priority_inputs(*, db_session: Session, obj: Any, priority: int) -> tuple[int, int] | None:
    """Impact and urgency that give a priority through the matrix, changing as little as possible."""
    from itsm_ai.workflow.service import priority_matrix

    matrix, _ = priority_matrix(db_session=db_session)
    impact, urgency = obj.impact or 3, obj.urgency or 3
    pairs = [(i, u) for i in (1, 2, 3) for u in (1, 2, 3)]
    # Prefer keeping the impact (the business effect), then the urgency, then the smallest move.
    pairs.sort(key=lambda p: (p[0] != impact, p[1] != urgency, abs(p[0] - impact) + abs(p[1] - urgency)))
    for i, u in pairs:
        if int(matrix.priority(i, u)) == int(priority):
            return i, u
    return None


# ------------------------------------------------------------------------------------------ listeners


def _current(obj: Any, target: str) -> Any:
    if target == "assignment_group":
        return obj.assignment_group_id
    return getattr(obj, target, None)


def _apply(db_session: Session, obj: Any, target: str, value: Any) -> str | None:
    """Set a suggested value on a new ticket; returns why it could not be set (or None)."""
    from itsm_ai.group.models import Group

    if target == "assignment_group":
        group = db_session.scalar(select(Group).where(Group.name == str(value)))
        if group is None:
            return f"no group named {value!r}"
        obj.assignment_group_id = group.id
        obj.assignment_group_ref = group
    elif target == "priority":
        inputs = priority_inputs(db_session=db_session, obj=obj, priority=value)
        if inputs is None:
            return f"no impact and urgency give priority {value!r}"
        obj.impact, obj.urgency = inputs
        obj.priority = int(value)
    elif target in ("impact", "urgency"):
        from itsm_ai.workflow.service import compute_priority

        setattr(obj, target, int(value))
        obj.priority = compute_priority(db_session=db_session, impact=obj.impact, urgency=obj.urgency)
    elif hasattr(obj, target):
        setattr(obj, target, value)
    else:
        return f"tickets have no field {target!r}"
    return None


def on_record_creating(db_session: Session, event: RecordEvent) -> None:
    """Compute triage suggestions for a new ticket (before its INSERT) and auto-apply where configured."""
    settings = get_settings()
    if event.kind != "creating" or event.record_type not in settings.triage_record_types:
        return
    obj = event.record
    text = service.ticket_text(obj.short_description, getattr(obj, "description", None))
    fields = service.suggest_fields(text, settings=settings)
    for target, entry in fields.items():
        if (
            entry["status"] == SuggestionStatus.suggested
            and service.field_mode(target, settings) == FieldMode.auto
            and _current(obj, target) in (None, "")
        ):
            problem = _apply(db_session, obj, target, entry["value"])
            if problem is None:
                entry["status"] = str(SuggestionStatus.applied)
            else:
                log.info("triage could not apply %s=%r: %s", target, entry["value"], problem)
    merged = dict(obj.suggestions or {})
    merged["fields"] = fields
    shadow = service.shadow_predictions(text, settings=settings)
    if shadow:
        merged["shadow"] = shadow
    obj.suggestions = merged


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Audit each value the model applied to a new ticket, naming the model and version."""
    if event.kind != "created":
        return
    fields = ((getattr(event.record, "suggestions", None) or {}).get("fields")) or {}
    for target, entry in fields.items():
        if isinstance(entry, dict) and entry.get("status") == SuggestionStatus.applied:
            audit_service.record_event(
                db_session=db_session,
                record_type=event.record_type,
                record_id=event.record.id,
                actor=ModelActor(entry.get("model") or target, entry.get("version")),
                action="update",
                field=target,
                old=None,
                new=entry.get("value"),
                source=MODEL_SOURCE,
            )


# ------------------------------------------------------------------------------------------ feedback


def _check_value(db_session: Session, field_name: str, value: Any) -> Any:
    """Validate an override value for a field; 422 naming `value`."""
    from itsm_ai.group.models import Group

    if field_name in ("priority", "impact", "urgency"):
        top = 5 if field_name == "priority" else 3
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.isdigit())
        ):
            raise InvalidInputError(f"value: {field_name} must be a whole number 1-{top}", field="value")
        value = int(value)
        if not 1 <= value <= top:
            raise InvalidInputError(f"value: {field_name} must be 1-{top}, got {value}", field="value")
        return value
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"value: {field_name} needs a non-empty text value", field="value")
    value = value.strip()
    if len(value) > 80:
        raise InvalidInputError(f"value: at most 80 characters for {field_name}", field="value")
    if (
        field_name == "assignment_group"
        and db_session.scalar(select(Group.id).where(Group.name == value)) is None
    ):
        raise InvalidInputError(f"value: no group {value!r}", field="value")
    return value


def give_feedback(
    *,
    db_session: Session,
    spec,
    obj: Any,
    field_name: str,
    action: FeedbackAction,
    user,
    value: Any = None,
    version: int | None = None,
) -> Any:
    """Accept the suggested value or override it: set the field through the normal (audited, version-checked)
    update, and record the feedback on the ticket's suggestion and in triage_feedback."""
    from itsm_ai.records import service as records

    suggestions = dict(obj.suggestions or {})
    fields = dict(suggestions.get("fields") or {})
    entry = fields.get(field_name)
    if field_name not in SETTABLE_FIELDS:
        raise InvalidInputError(
            f"field: {field_name!r} cannot take feedback; one of {', '.join(SETTABLE_FIELDS)}", field="field"
        )
    if not isinstance(entry, dict):
        raise InvalidInputError(
            f"field: {getattr(obj, 'number', obj.id)} has no suggestion for {field_name}", field="field"
        )
    if action == FeedbackAction.accepted:
        value = entry.get("value")
        if value is None:
            raise ConflictError(
                f"field: there is no suggested {field_name} to accept ({entry.get('status')}: "
                f"{entry.get('reason')}); override it with the right value instead",
                field="field",
            )
    value = _check_value(db_session, field_name, value)
    if version is None:
        version = obj.version
    data: dict[str, Any] = {"version": version}
    if field_name == "priority":
        inputs = priority_inputs(db_session=db_session, obj=obj, priority=value)
        if inputs is None:
            raise InvalidInputError(f"value: no impact and urgency give priority {value}", field="value")
        data["impact"], data["urgency"] = inputs
    else:
        data[field_name] = value
    if version != obj.version:  # refuse before touching the suggestions; records.update says the same
        records.update(db_session=db_session, spec=spec, obj=obj, data={"version": version}, actor=user)
    at = utcnow()
    fields[field_name] = {
        **entry,
        "feedback": {
            "action": str(action),
            "value": value,
            "by": getattr(user, "username", None),
            "at": at.isoformat(timespec="seconds"),
        },
    }
    suggestions["fields"] = fields
    obj.suggestions = suggestions
    records.update(db_session=db_session, spec=spec, obj=obj, data=data, actor=user)
    service.record_feedback(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        field_name=field_name,
        suggested=entry.get("value"),
        final=value,
        action=action,
        model=entry.get("model"),
        version=entry.get("version"),
        user=user,
    )
    db_session.flush()  # the response must show the version this write produced
    return obj


# ------------------------------------------------------------------------------------------ training jobs

_threads: dict[int, threading.Thread] = {}
_threads_lock = threading.Lock()


def start_training_job(*, params: dict[str, Any], user) -> int:
    """Queue a training job (committed at once, so its status can be polled) and run it in a thread."""
    from itsm_ai.classify.models import TrainingJob
    from itsm_ai.database import get_session

    service.check_target(params["target"])
    features = params.get("features")
    if features is not None and features not in service.FEATURE_CHOICES:
        raise InvalidInputError(
            f"features: must be one of {', '.join(service.FEATURE_CHOICES)}", field="features"
        )
    with get_session() as session:
        job = TrainingJob(
            target=params["target"],
            status=JobStatus.queued,
            progress=0.0,
            params=params,
            created_by_id=getattr(user, "id", None),
            created_by=getattr(user, "username", None),
            created_at=utcnow(),
        )
        session.add(job)
        session.flush()
        job_id = job.id
    thread = threading.Thread(target=run_training_job, args=(job_id,), name=f"train-{job_id}", daemon=True)
    with _threads_lock:
        _threads[job_id] = thread
    thread.start()
    return job_id


def wait_for_job(job_id: int, timeout: float = 120.0) -> bool:
    """Wait for a job started in this process; True when it finished in time."""
    with _threads_lock:
        thread = _threads.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def _update_job(job_id: int, **values: Any) -> None:
    from itsm_ai.classify.models import TrainingJob
    from itsm_ai.database import get_session

    with get_session() as session:
        job = session.get(TrainingJob, job_id)
        if job is not None:
            for key, value in values.items():
                setattr(job, key, value)


def run_training_job(job_id: int) -> None:
    """Train as a job describes, recording progress and the outcome on the job row."""
    from itsm_ai.classify.models import TrainingJob
    from itsm_ai.database import get_session

    try:
        with get_session() as session:
            job = session.get(TrainingJob, job_id)
            if job is None:
                return
            params = dict(job.params or {})
            job.status, job.started_at, job.message = JobStatus.running, utcnow(), "loading tickets"
        with get_session() as session:
            data = service.store_training_data(db_session=session, target=params["target"])
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5 or fraction >= 0.95:
                last[0] = now
                _update_job(job_id, progress=round(min(fraction, 0.99), 3), message=message)

        result = service.train_model(
            data,
            target=params["target"],
            features=params.get("features"),
            target_precision=params.get("target_precision"),
            min_class_count=params.get("min_class_count"),
            promote=bool(params.get("promote")),
            progress=progress,
            metadata={"trained_by": params.get("created_by") or None, "training_job": job_id},
        )
        evaluation = result.metadata.get("evaluation") or {}
        summary = f"saved {result.name} {result.version}" + (" and promoted it" if result.promoted else "")
        if evaluation:
            summary += (
                f"; held-out macro-F1 {evaluation['macro_f1']:.3f}, accuracy {evaluation['accuracy']:.3f}, "
                f"coverage {evaluation['coverage']:.2f}"
            )
        _update_job(
            job_id,
            status=JobStatus.succeeded,
            progress=1.0,
            version=result.version,
            message=summary,
            finished_at=utcnow(),
        )
    except Exception as exc:  # noqa: BLE001 - the job row must say why it failed
        log.exception("training job %s failed", job_id)
        try:
            _update_job(job_id, status=JobStatus.failed, message=str(exc)[:4000], finished_at=utcnow())
        except Exception:  # noqa: BLE001
            log.exception("could not record the failure of training job %s", job_id)
    finally:
        with _threads_lock:
            _threads.pop(job_id, None)
