"""Export endpoint for data scientists and admins."""

from __future__ import annotations

import io
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from itsm_ai.auth.dependencies import DataUser
from itsm_ai.data import export
from itsm_ai.database import DbSession

router = APIRouter(prefix="/export", tags=["data"])


@router.get("/{record_type}", summary="Export every record of a type as CSV or Parquet")
def export_records(
    record_type: str,
    db_session: DbSession,
    user: DataUser,
    format: Literal["csv", "parquet"] = Query(default="csv"),
):
    frame = export.to_dataframe(db_session=db_session, record_type=record_type)
    if format == "csv":
        text = io.StringIO()
        export.write_csv(frame, text)
        content = text.getvalue().encode("utf-8")
        media = "text/csv; charset=utf-8"
    else:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        content = buffer.getvalue()
        media = "application/vnd.apache.parquet"
    name = export.spec_for(record_type).path
    return Response(
        content=content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'},
    )
