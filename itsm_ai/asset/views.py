"""Asset (configuration item) endpoints, with the tickets linked to each asset."""

from __future__ import annotations

from itsm_ai.asset import service
from itsm_ai.asset.service import ASSET
from itsm_ai.auth.dependencies import CurrentUser, ReaderUser
from itsm_ai.database import DbSession
from itsm_ai.records import service as record_service
from itsm_ai.records.views import make_router

router = make_router(ASSET, CurrentUser)


@router.get("/{ref}/tickets", summary="Tickets linked to this asset")
def asset_tickets(ref: str, db_session: DbSession, user: ReaderUser):
    asset = record_service.get(db_session=db_session, spec=ASSET, ref=ref)
    return {"items": service.linked_tickets(db_session=db_session, asset=asset)}
