"""The error bodies of ServiceNow's paths, as its clients (pysnc, the Ansible collection) expect them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class SnErrorDetail(BaseModel):
    """ServiceNow's error: a short message and the detail."""

    message: str
    detail: str | None = None


class SnErrorBody(BaseModel):
    """Every error of the Table, Aggregate, Attachment and Batch APIs."""

    error: SnErrorDetail
    status: Literal["failure"]


class OAuthErrorBody(BaseModel):
    """A refused token request at /oauth_token.do (RFC 6749, section 5.2)."""

    error: str
    error_description: str | None = None
