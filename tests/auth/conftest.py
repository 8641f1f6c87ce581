"""Auth tests share the API tests' faster database cleaning."""

import pytest

from tests.conftest import clean_database


@pytest.fixture
def db(engine):
    """An empty database per test, cleaned the fast way (tests/conftest.py clean_database)."""
    clean_database(engine)
    yield engine
