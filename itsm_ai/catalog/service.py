"""Service catalog spec."""

from __future__ import annotations

from itsm_ai.base.roles import ADMINS, EVERYONE
from itsm_ai.catalog.models import CatalogItem, CatalogItemCreate, CatalogItemRead, CatalogItemUpdate
from itsm_ai.group.models import Group
from itsm_ai.records.spec import Access, RecordSpec, Ref


def _on_create(obj: CatalogItem, *, db_session, actor) -> None:
    if obj.variables:
        obj.variables = [v if isinstance(v, dict) else v.model_dump() for v in obj.variables]


def _on_update(obj: CatalogItem, *, db_session, previous, changes, actor) -> list:
    _on_create(obj, db_session=None, actor=actor)
    return []


CATALOG_ITEM = RecordSpec(
    record_type="catalog_item",
    noun="catalog item",
    path="catalog-items",
    model=CatalogItem,
    create_schema=CatalogItemCreate,
    update_schema=CatalogItemUpdate,
    read_schema=CatalogItemRead,
    access=Access(
        create=ADMINS,
        read=EVERYONE,
        update=ADMINS,
        delete=ADMINS,
        requester_visible=lambda item: item.active,
        requester_scope={"active": True},
    ),
    refs={"fulfilment_group": Ref("fulfilment_group_id", "fulfilment_group_ref", Group, "name", "group")},
    filters={"name": str, "category": str, "active": bool},
    range_field=None,
    sort_fields=("name", "id", "category", "price"),
    default_sort="name",
    search_fields=("name", "short_description", "description"),
    on_create=_on_create,
    on_update=_on_update,
)
