"""Asset (configuration item) spec, the configuration items other records link to, and an asset's tickets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from itsm_ai.asset.models import Asset, AssetCreate, AssetRead, AssetUpdate, record_cis
from itsm_ai.auth.models import User
from itsm_ai.base import spec_registry
from itsm_ai.base.record_types import NUMBER_PREFIXES, TICKET_TYPES, RecordType
from itsm_ai.base.roles import ADMINS, READERS, STAFF
from itsm_ai.group.models import Group
from itsm_ai.records.spec import Access, Link, RecordSpec, Ref


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
    access=Access(create=STAFF, read=READERS, update=STAFF, delete=ADMINS),
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


class ConfigurationItems(Link):
    """The assets a record is about, kept in record_cis and shown by asset name; the record's model maps them
    as the read-only relationship `configuration_items_ref`."""

    noun = "asset"

    def shown(self, obj: Any) -> list[str]:
        """Asset names, sorted."""
        return [a.name for a in obj.configuration_items_ref]

    def shown_for(self, *, db_session: Session, spec: RecordSpec, ids: list[int]) -> dict[int, list[str]]:
        """Asset names per record, sorted, for a page of records in one query."""
        out: dict[int, list[str]] = {i: [] for i in ids}
        rows = db_session.execute(
            select(record_cis.c.record_id, Asset.name)
            .join(Asset, Asset.id == record_cis.c.asset_id)
            .where(record_cis.c.record_type == spec.record_type, record_cis.c.record_id.in_(ids))
            .order_by(Asset.name)
        )
        for record_id, name in rows:
            out[record_id].append(name)
        return out

    def find(self, *, db_session: Session, value: str) -> int | None:
        """The id of the asset with this name (or number)."""
        return db_session.scalar(select(Asset.id).where((Asset.name == value) | (Asset.number == value)))

    def replace(
        self, *, db_session: Session, spec: RecordSpec, obj: Any, targets: list[int], new: bool
    ) -> None:
        """Link the record to exactly these assets."""
        if new and not targets:
            # Nothing to load: the response and the listeners read the empty list without a query.
            set_committed_value(obj, "configuration_items_ref", [])
            return
        if not new:
            self.clear(db_session=db_session, spec=spec, obj=obj)
        if targets:
            rows = [{"record_type": spec.record_type, "record_id": obj.id, "asset_id": a} for a in targets]
            db_session.execute(insert(record_cis), rows)
        db_session.expire(obj, ["configuration_items_ref"])

    def clear(self, *, db_session: Session, spec: RecordSpec, obj: Any) -> None:
        """Unlink every asset (the links have no foreign key to the record)."""
        db_session.execute(
            delete(record_cis).where(
                record_cis.c.record_type == spec.record_type, record_cis.c.record_id == obj.id
            )
        )


CONFIGURATION_ITEMS = ConfigurationItems()


def linked_tickets(*, db_session: Session, asset: Asset) -> list[dict[str, Any]]:
    """Tickets linked to an asset: record type, id and number."""
    out = []
    rows = db_session.execute(
        select(record_cis.c.record_type, record_cis.c.record_id).where(record_cis.c.asset_id == asset.id)
    )
    for record_type, record_id in rows:
        if record_type not in TICKET_TYPES:
            continue
        obj = db_session.get(spec_registry.get(record_type).model, record_id)
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
