import pytest

from tests.api.conftest import Factory


@pytest.fixture
def make(client, users) -> Factory:
    """Record factories over the API."""
    return Factory(client, users)
