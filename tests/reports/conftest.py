"""The API tests' fixtures for the report endpoints: app (no background worker), client, users and factory."""

from tests.api.conftest import app, client, make, users  # noqa: F401
