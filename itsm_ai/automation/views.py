"""Rule endpoints: admins create, change, enable/disable, delete and dry-run rules; staff read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from itsm_ai.auth.dependencies import AdminUser, CurrentUser, StaffUser
from itsm_ai.automation import flows, service
from itsm_ai.automation.models import DryRunOptions, DryRunRequest, DryRunResult, RuleRead
from itsm_ai.automation.service import RULE
from itsm_ai.database import DbSession
from itsm_ai.errors import InvalidInputError
from itsm_ai.records import service as record_service
from itsm_ai.records.views import make_router
from itsm_ai.webhooks import service as webhook_service
from itsm_ai.webhooks.models import DeliveryRead

router = make_router(RULE, CurrentUser, list_as_array=True)


@router.post(
    "/dry-run", response_model=DryRunResult, summary="What a rule body would do to the last N tickets"
)
def dry_run_body(body: DryRunRequest, db_session: DbSession, admin: AdminUser):
    try:
        data = service.validate(db_session=db_session, data=body.rule.model_dump())
    except InvalidInputError as exc:
        raise InvalidInputError(f"rule.{exc.message}", field=f"rule.{exc.field}") from None
    return flows.dry_run(db_session=db_session, rule=data, last=body.last)


@router.post("/{ref}/enable", response_model=RuleRead, summary="Switch a rule on")
def enable_rule(ref: str, db_session: DbSession, admin: AdminUser):
    rule = record_service.get(db_session=db_session, spec=RULE, ref=ref)
    rule = service.set_enabled(db_session=db_session, rule=rule, enabled=True, actor=admin)
    return record_service.serialize(RULE, rule)


@router.post("/{ref}/disable", response_model=RuleRead, summary="Switch a rule off")
def disable_rule(ref: str, db_session: DbSession, admin: AdminUser):
    rule = record_service.get(db_session=db_session, spec=RULE, ref=ref)
    rule = service.set_enabled(db_session=db_session, rule=rule, enabled=False, actor=admin)
    return record_service.serialize(RULE, rule)


@router.post(
    "/{ref}/dry-run", response_model=DryRunResult, summary="What a stored rule would do to the last N"
)
def dry_run_rule(ref: str, body: DryRunOptions, db_session: DbSession, user: StaffUser):
    rule = record_service.get(db_session=db_session, spec=RULE, ref=ref)
    return flows.dry_run(db_session=db_session, rule=service.rule_values(rule), last=body.last)


@router.get("/{ref}/deliveries", response_model=list[DeliveryRead], summary="The rule's webhook calls")
def rule_deliveries(
    ref: str, db_session: DbSession, admin: AdminUser, limit: Annotated[int, Query(ge=1, le=500)] = 100
):
    rule = record_service.get(db_session=db_session, spec=RULE, ref=ref)
    rows = webhook_service.list_deliveries(db_session=db_session, rule_id=rule.id, limit=limit)
    return webhook_service.delivery_reads(db_session=db_session, deliveries=rows)
