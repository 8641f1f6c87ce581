"""Notification fixtures: the mail fixtures (settings, aiosmtpd sink) and API helpers."""

from tests.api.conftest import Factory, app, assert_error, client  # noqa: F401
from tests.mail.conftest import installed, mail_settings, sink  # noqa: F401
