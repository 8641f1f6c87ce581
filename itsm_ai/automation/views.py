"""Rule endpoints: admins create, change, enable/disable, delete and dry-run rules; staff read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from itsm_ai.auth.dependencies import AdminUser, StaffUser
from itsm_ai.automation import flows, service
from itsm_ai.automation.enums import Trigger
from itsm_ai.automation.models import (
    DryRunOptions,
    DryRunRequest,
    DryRunResult,
    RuleCreate,
    RuleRead,
    RuleUpdate,
)
from itsm_ai.database import DbSession
from itsm_ai.errors import InvalidInputError
from itsm_ai.webhooks import service as webhook_service
from itsm_ai.webhooks.models import DeliveryRead
from itsm_ai.webhooks.views import deliveries_read

router = APIRouter(prefix="/rules", tags=["automation"])


@router.get("", response_model=list[RuleRead], summary="Rules in the order they run")
def list_rules(
    db_session: DbSession,
    user: StaffUser,
    record_type: str | None = None,
    trigger: Trigger | None = None,
    enabled: bool | None = None,
):
    return service.list_rules(
        db_session=db_session, record_type=record_type, trigger=trigger, enabled=enabled
    )


@router.post("", response_model=RuleRead, status_code=status.HTTP_201_CREATED, summary="Create a rule")
def create_rule(body: RuleCreate, db_session: DbSession, admin: AdminUser, response: Response):
    rule = service.create(db_session=db_session, rule_in=body, actor=admin)
    response.headers["Location"] = f"/api/v1/rules/{rule.id}"
    return rule


@router.post(
    "/dry-run", response_model=DryRunResult, summary="What a rule body would do to the last N tickets"
)
def dry_run_body(body: DryRunRequest, db_session: DbSession, admin: AdminUser):
    try:
        data = service.validate(db_session=db_session, data=body.rule.model_dump())
    except InvalidInputError as exc:
        raise InvalidInputError(f"rule.{exc.message}", field=f"rule.{exc.field}") from None
    return flows.dry_run(db_session=db_session, rule=data, last=body.last)


@router.get("/{rule_id}", response_model=RuleRead, summary="Read a rule")
def get_rule(rule_id: int, db_session: DbSession, user: StaffUser):
    return service.get(db_session=db_session, rule_id=rule_id)


@router.patch("/{rule_id}", response_model=RuleRead, summary="Change a rule (send the version you read)")
def update_rule(rule_id: int, body: RuleUpdate, db_session: DbSession, admin: AdminUser):
    rule = service.get(db_session=db_session, rule_id=rule_id)
    return service.update(db_session=db_session, rule=rule, rule_in=body, actor=admin)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a rule")
def delete_rule(rule_id: int, db_session: DbSession, admin: AdminUser):
    service.delete(
        db_session=db_session, rule=service.get(db_session=db_session, rule_id=rule_id), actor=admin
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{rule_id}/enable", response_model=RuleRead, summary="Switch a rule on")
def enable_rule(rule_id: int, db_session: DbSession, admin: AdminUser):
    rule = service.get(db_session=db_session, rule_id=rule_id)
    return service.set_enabled(db_session=db_session, rule=rule, enabled=True, actor=admin)


@router.post("/{rule_id}/disable", response_model=RuleRead, summary="Switch a rule off")
def disable_rule(rule_id: int, db_session: DbSession, admin: AdminUser):
    rule = service.get(db_session=db_session, rule_id=rule_id)
    return service.set_enabled(db_session=db_session, rule=rule, enabled=False, actor=admin)


@router.post(
    "/{rule_id}/dry-run", response_model=DryRunResult, summary="What a stored rule would do to the last N"
)
def dry_run_rule(rule_id: int, body: DryRunOptions, db_session: DbSession, user: StaffUser):
    rule = service.get(db_session=db_session, rule_id=rule_id)
    data = {name: getattr(rule, name) for name in service.FIELDS}
    return flows.dry_run(db_session=db_session, rule=data, last=body.last)


@router.get("/{rule_id}/deliveries", response_model=list[DeliveryRead], summary="The rule's webhook calls")
def rule_deliveries(
    rule_id: int, db_session: DbSession, admin: AdminUser, limit: Annotated[int, Query(ge=1, le=500)] = 100
):
    service.get(db_session=db_session, rule_id=rule_id)
    rows = webhook_service.list_deliveries(db_session=db_session, rule_id=rule_id, limit=limit)
    return deliveries_read(db_session, rows)
