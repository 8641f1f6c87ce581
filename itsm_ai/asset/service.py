"""Asset (configuration item) spec and the tickets linked to an asset."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.asset.models import Asset, AssetCreate, AssetRead, AssetUpdate, record_cis
from itsm_ai.auth.enums import Role
from itsm_ai.auth.models import User
from itsm_ai.group.models import Group
from itsm_ai.records.spec import Access, RecordSpec, Ref
from itsm_ai.ticket.enums import NUMBER_PREFIXES, RecordType


def _on_create(obj: Asset, *, db_session, actor) -> None:
    if obj.ip_address is not None:
        obj.ip_address = str(obj.ip_address)


def _on_update(obj: Asset, *, db_session, previous, changes, actor) -> list:
    if obj.ip_address is not None and not isinstance(obj.ip_address, str):
        obj.ip_address = str(obj.ip_address)
    return []


ASSET = RecordSpec(
    record_type=str(RecordType.asset),
    noun="asset",
    path="assets",
    model=Asset,
    create_schema=AssetCreate,
    update_schema=AssetUpdate,
    read_schema=AssetRead,
    access=Access(
        create=frozenset({Role.agent, Role.admin}),
        read=frozenset({Role.agent, Role.admin, Role.data_scientist}),
        update=frozenset({Role.agent, Role.admin}),
        delete=frozenset({Role.admin}),
    ),
    prefix=NUMBER_PREFIXES[RecordType.asset],
    refs={
        "owner": Ref("owner_id", "owner_ref", User, "username", "user"),
        "support_group": Ref("support_group_id", "support_group_ref", Group, "name", "group"),
    },
    filters={
        "number": str,
        "name": str,
        "ci_class": str,
        "status": str,
        "location": str,
        "serial_number": str,
        "owner": str,
        "support_group": str,
        "correlation_id": str,
    },
    range_field="updated_at",
    sort_fields=("name", "number", "id", "updated_at", "created_at"),
    default_sort="name",
    search_fields=("name", "description", "serial_number"),
    on_create=_on_create,
    on_update=_on_update,
)


def linked_tickets(*, db_session: Session, asset: Asset) -> list[dict[str, Any]]:
    """Tickets linked to an asset: record type, id and number."""
    from itsm_ai.ticket.service import TICKET_SPECS

    out = []
    rows = db_session.execute(
        select(record_cis.c.record_type, record_cis.c.record_id).where(record_cis.c.asset_id == asset.id)
    )
    for record_type, record_id in rows:
        spec = TICKET_SPECS.get(record_type)
        if spec is None:
            continue
        obj = db_session.get(spec.model, record_id)
        if obj is not None:
            out.append(
                {
                    "record_type": record_type,
                    "id": obj.id,
                    "number": obj.number,
                    "state": obj.state,
                    "short_description": obj.short_description,
                }
            )
    return out
