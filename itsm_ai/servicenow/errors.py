"""ServiceNow's bad-input error (400, where the native API answers 422)."""

from __future__ import annotations

from itsm_ai.errors import InvalidInputError


class SnBadRequest(InvalidInputError):
    """Bad input in ServiceNow's terms (400)."""

    status_code = 400
