"""Assignment group endpoints: agents read, admins manage."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from itsm_ai.audit import service as audit_service
from itsm_ai.audit.models import AuditEventRead
from itsm_ai.auth.dependencies import AdminUser, StaffUser
from itsm_ai.database import DbSession
from itsm_ai.group import service
from itsm_ai.group.models import Group, GroupCreate, GroupRead, GroupUpdate

router = APIRouter(prefix="/groups", tags=["groups"])


@router.get("", summary="List assignment groups")
def list_groups(db_session: DbSession, user: StaffUser):
    groups = list(db_session.scalars(select(Group).order_by(Group.name)))
    return {"items": [service.to_read(g) for g in groups], "total": len(groups)}


@router.post("", response_model=GroupRead, status_code=status.HTTP_201_CREATED)
def create_group(body: GroupCreate, db_session: DbSession, admin: AdminUser):
    return service.to_read(service.create(db_session=db_session, group_in=body, actor=admin))


@router.get("/{ref}", response_model=GroupRead)
def read_group(ref: str, db_session: DbSession, user: StaffUser):
    return service.to_read(service.get_or_404(db_session=db_session, ref=ref))


@router.patch("/{ref}", response_model=GroupRead)
def update_group(ref: str, body: GroupUpdate, db_session: DbSession, admin: AdminUser):
    group = service.get_or_404(db_session=db_session, ref=ref)
    return service.to_read(service.update(db_session=db_session, group=group, group_in=body, actor=admin))


@router.get("/{ref}/audit", response_model=list[AuditEventRead])
def group_audit(ref: str, db_session: DbSession, user: StaffUser):
    group = service.get_or_404(db_session=db_session, ref=ref)
    return audit_service.list_for(db_session=db_session, record_type="group", record_id=group.id)


@router.delete("/{ref}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an unused group")
def delete_group(ref: str, db_session: DbSession, admin: AdminUser):
    group = service.get_or_404(db_session=db_session, ref=ref)
    service.delete(db_session=db_session, group=group, actor=admin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
