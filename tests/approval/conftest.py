from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import API, Factory


@pytest.fixture
def make(client, users) -> Factory:
    """Record factories over the API."""
    return Factory(client, users)


def order_concurrently(client, headers, body: Callable[[int], dict], *, orders: int = 6) -> list:
    """Place `orders` service requests at once from four threads; every one must be accepted (201)."""

    def order(i):
        return client.post(f"{API}/requests", json=body(i), headers=headers)

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(order, range(orders)))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    return responses
