"""The Attachment API's shapes: an attachment's metadata, its sys_id and the records a query names."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from itsm_ai.errors import NotFoundError
from itsm_ai.servicenow import codes
from itsm_ai.servicenow.errors import SnBadRequest
from itsm_ai.servicenow.query import QuerySyntaxError, parse

ATTACHMENT_TYPE = "attachment"


def attachment_json(attachment: Any, base_url: str) -> dict[str, str]:
    """An attachment's metadata as ServiceNow's Attachment API shows it."""
    sys_id = codes.encode_sys_id(ATTACHMENT_TYPE, attachment.id)
    table = codes.TABLE_OF_RECORD_TYPE.get(attachment.record_type, attachment.record_type)
    uploader = attachment.uploaded_by.username if attachment.uploaded_by else ""
    return {
        "sys_id": sys_id,
        "file_name": attachment.filename,
        "content_type": attachment.content_type,
        "size_bytes": str(attachment.size),
        "hash": attachment.sha256,
        "table_name": table,
        "table_sys_id": codes.encode_sys_id(attachment.record_type, attachment.record_id),
        "download_link": f"{base_url}/api/now/attachment/{sys_id}/file",
        "sys_created_on": codes.format_datetime(attachment.created_at),
        "sys_created_by": uploader,
    }


def attachment_id(sys_id: str) -> int:
    """The id behind an attachment's sys_id, or 404."""
    found = codes.decode_sys_id(sys_id, ATTACHMENT_TYPE)
    if found is None:
        raise NotFoundError(f"attachment {sys_id} not found")
    return found


def attachment_target(*, db_session: Session, query_text: str | None) -> tuple[str | None, str | None, str]:
    """(table_name, file_name, table_sys_id) from an Attachment API query; only = on those fields."""
    try:
        query = parse(query_text)
    except QuerySyntaxError as exc:
        raise SnBadRequest(str(exc), field="sysparm_query") from None
    wanted: dict[str, str] = {}
    for alternative in query.alternatives:
        for group in alternative:
            for cond in group:
                if len(group) > 1 or len(query.alternatives) > 1 or cond.operator != "=":
                    raise SnBadRequest(
                        "sysparm_query: attachments are found by field=value only", field=cond.field
                    )
                if cond.field not in ("table_name", "table_sys_id", "file_name"):
                    raise SnBadRequest(
                        f"sysparm_query: attachments have no field {cond.field!r}", field=cond.field
                    )
                wanted[cond.field] = cond.value
    if "table_sys_id" not in wanted:
        raise SnBadRequest(
            "sysparm_query: table_sys_id=<the record's sys_id> is required", field="table_sys_id"
        )
    return wanted.get("table_name"), wanted.get("file_name"), wanted["table_sys_id"]
