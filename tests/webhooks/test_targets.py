"""Webhooks never go to the service's own network by default: refused on save and after DNS at delivery."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from itsm_ai import database
from itsm_ai.database import utcnow
from itsm_ai.webhooks import flows, targets
from itsm_ai.webhooks.flows import RetryPolicy
from itsm_ai.webhooks.models import DeliveryAttempt
from tests.api.conftest import API, assert_error
from tests.webhooks.helpers import Receiver

POLICY = RetryPolicy(max_attempts=3, base_seconds=10, jitter=0.2, lease_seconds=60, timeout_seconds=5)
REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:5432/",
    "http://127.0.0.1:8000/hook",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://100.64.1.1/hook",
    "http://db.internal/hook",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://0177.0.0.1/hook",
]


@pytest.fixture
def refuse_private(monkeypatch):
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "webhooks_allow_private", False)


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_literals_and_local_names(url):
    with pytest.raises(targets.RefusedTarget):
        targets.check_url(url)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_pass(address):
    assert targets.address_refusal(address) is None


def test_resolved_addresses_are_all_checked():
    assert targets.resolve_checked("https://hooks.example.com/x", resolver=lambda h, p: ["8.8.8.8"]) == [
        "8.8.8.8"
    ]
    with pytest.raises(targets.RefusedTarget, match="resolves to 10.0.0.5 is a private address"):
        targets.resolve_checked("https://hooks.example.com/x", resolver=lambda h, p: ["8.8.8.8", "10.0.0.5"])


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_create_refuses_private_targets_naming_url(api, client, users, refuse_private, url):
    r = client.post(f"{API}/webhooks", json={"name": "x", "url": url}, headers=users["admin"].headers)
    assert_error(r, 422, "url")
    assert api.get("webhooks") == []


def test_update_refuses_private_targets_and_keeps_the_url(api, client, users, refuse_private):
    sub = api.post("webhooks", {"name": "ops", "url": "https://hooks.example.com/in"})
    r = client.patch(
        f"{API}/webhooks/{sub['id']}",
        json={"version": sub["version"], "url": "http://169.254.169.254/"},
        headers=users["admin"].headers,
    )
    assert_error(r, 422, "url")
    assert api.get(f"webhooks/{sub['id']}")["url"] == "https://hooks.example.com/in"


def test_rule_webhook_action_refuses_private_targets(api, client, users, refuse_private):
    body = {
        "name": "r",
        "record_type": "incident",
        "trigger": "created",
        "actions": [{"type": "notify_webhook", "url": "http://127.0.0.1:9/hook"}],
    }
    r = client.post(f"{API}/rules", json=body, headers=users["admin"].headers)
    assert_error(r, 422, "actions[0].url")


def _attempts() -> list[DeliveryAttempt]:
    with database.get_session() as s:
        return list(s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def test_delivery_refused_after_dns_without_connecting(api, refuse_private, monkeypatch):
    """A name that passed on save now resolves to loopback: failed with the reason, no request made."""
    receiver = Receiver().start()
    try:
        api.post("webhooks", {"name": "ops", "url": f"http://hooks.example.com:{receiver.port}/hook"})
        monkeypatch.setattr(targets, "system_resolver", lambda host, port: ["127.0.0.1"])
        api.incident()
        counts = flows.deliver_pending(now=utcnow(), policy=POLICY, rng=random.Random(7))
        assert counts == {"delivered": 0, "retrying": 0, "failed": 1}
        assert receiver.received == []
        [attempt] = _attempts()
        assert "127.0.0.1 is a loopback address" in attempt.error and attempt.status_code is None
    finally:
        receiver.stop()


def test_allowed_delivery_connects_to_the_checked_address(api, refuse_private, monkeypatch):
    """The request goes to the address that was checked (not a second look-up), with the original Host."""
    receiver = Receiver().start()
    try:
        api.post("webhooks", {"name": "ops", "url": f"http://hooks.example.com:{receiver.port}/hook"})
        monkeypatch.setattr(targets, "system_resolver", lambda host, port: ["127.0.0.1"])
        monkeypatch.setattr(targets, "address_refusal", lambda address: None)  # pretend it is public
        api.incident()
        counts = flows.deliver_pending(now=utcnow(), policy=POLICY, rng=random.Random(7))
        assert counts == {"delivered": 1, "retrying": 0, "failed": 0}
        [got] = receiver.received
        assert got.headers["host"] == f"hooks.example.com:{receiver.port}"
    finally:
        receiver.stop()


def test_dns_failure_is_retried_not_refused(api, refuse_private, monkeypatch):
    def fail(host, port):
        raise OSError("Name or service not known")

    api.post("webhooks", {"name": "ops", "url": "https://hooks.example.com/hook"})
    monkeypatch.setattr(targets, "system_resolver", fail)
    api.incident()
    assert flows.deliver_pending(now=utcnow(), policy=POLICY, rng=random.Random(7))["retrying"] == 1
