"""Deliveries to a real HTTP receiver on 127.0.0.1: signatures, retries, leases, order, dedupe."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from itsm_ai import database
from itsm_ai.database import utcnow
from itsm_ai.webhooks import flows
from itsm_ai.webhooks.flows import RetryPolicy
from itsm_ai.webhooks.models import WebhookDelivery
from tests.webhooks.helpers import Receiver, free_port

POLICY = RetryPolicy(max_attempts=3, base_seconds=10, jitter=0.2, lease_seconds=60, timeout_seconds=5)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def subscribe(api, receiver: Receiver, **fields) -> dict:
    sub = api.post("webhooks", {"name": fields.pop("name", "ops"), "url": receiver.url, **fields})
    receiver.secret = sub["secret"]
    return sub


def deliver(now, **kw):
    return flows.deliver_pending(now=now, policy=kw.pop("policy", POLICY), rng=random.Random(7), **kw)


def log(api, sub) -> list[dict]:
    return api.get(f"webhooks/{sub['id']}/deliveries")


def test_signed_delivery_with_headers_and_envelope(api, receiver):
    receiver.start()
    sub = subscribe(api, receiver, event_types=["incident.created"])
    inc = api.incident()
    assert deliver(utcnow()) == {"delivered": 1, "retrying": 0, "failed": 0}
    [got] = receiver.received
    assert receiver.bad_signatures == 0
    assert (
        got.headers["x-itsm-event"] == "incident.created"
        and got.headers["content-type"] == "application/json"
    )
    assert got.headers["x-itsm-signature"].startswith("sha256=")
    body = got.json
    assert body["id"] == got.headers["x-itsm-event-id"] and body["type"] == "incident.created"
    assert body["data"]["record"]["number"] == inc["number"]
    [entry] = log(api, sub)
    assert entry["status"] == "delivered" and entry["event_id"] == body["id"]
    assert [(a["attempt"], a["status_code"], a["error"]) for a in entry["log"]] == [(1, 200, None)]
    assert deliver(utcnow()) == {"delivered": 0, "retrying": 0, "failed": 0}


def test_receiver_down_retries_with_backoff_then_delivers(api, receiver):
    receiver.port = free_port()  # nothing listens yet: connection refused
    sub = subscribe(api, receiver)
    api.incident()
    t0 = utcnow()
    assert deliver(t0) == {"delivered": 0, "retrying": 1, "failed": 0}
    [entry] = log(api, sub)
    first_wait = (entry_time(entry) - t0).total_seconds()
    assert 10 <= first_wait <= 12 and "ConnectError" in entry["last_error"]
    assert deliver(t0 + timedelta(seconds=9))["retrying"] == 0  # not due yet
    t1 = t0 + timedelta(seconds=13)
    assert deliver(t1)["retrying"] == 1
    second_wait = (entry_time(log(api, sub)[0]) - t1).total_seconds()
    assert 20 <= second_wait <= 24  # doubled, plus jitter
    receiver.start()
    assert deliver(t1 + timedelta(seconds=25))["delivered"] == 1
    [entry] = log(api, sub)
    assert [a["status_code"] for a in entry["log"]] == [None, None, 200] and entry["attempts"] == 3
    assert len(receiver.accepted) == 1 and receiver.bad_signatures == 0


def entry_time(entry):
    from datetime import datetime

    return datetime.fromisoformat(entry["next_attempt_at"])


def test_500s_fail_after_max_attempts_hold_later_events_in_order_and_redeliver(api, receiver):
    receiver.status = 500
    receiver.start()
    sub = subscribe(api, receiver)
    first, second = api.incident(), api.incident()
    now = utcnow()
    assert deliver(now) == {"delivered": 0, "retrying": 1, "failed": 0}
    # Only the oldest pending delivery is tried: the second event waits behind it until it is done.
    assert deliver(now + timedelta(hours=1)) == {"delivered": 0, "retrying": 1, "failed": 0}
    assert {r.json["data"]["record"]["number"] for r in receiver.received} == {first["number"]}
    assert deliver(now + timedelta(hours=2)) == {"delivered": 0, "retrying": 1, "failed": 1}
    assert [r.json["data"]["record"]["number"] for r in receiver.received][-1] == second["number"]
    receiver.status = 200
    assert deliver(now + timedelta(hours=3))["delivered"] == 1
    newest, oldest = log(api, sub)
    assert (oldest["status"], oldest["attempts"], oldest["last_status_code"]) == ("failed", 3, 500)
    assert newest["status"] == "delivered"
    again = api.call("POST", f"webhooks/{sub['id']}/deliveries/{oldest['id']}/redeliver", expect=202)
    assert again["status"] == "pending" and again["event_id"] == oldest["event_id"]
    assert deliver(now + timedelta(hours=3))["delivered"] == 1
    numbers = [r.json["data"]["record"]["number"] for r in receiver.accepted.values()]
    assert numbers == [second["number"], first["number"]]  # each event accepted once, the redelivery last


def test_a_worker_dying_mid_send_loses_its_lease_and_the_event_is_seen_once(api, receiver):
    receiver.start()
    subscribe(api, receiver)
    api.incident()
    now = utcnow()
    with database.get_session() as s:
        [claimed] = flows.claim(db_session=s, now=now, policy=POLICY)
    with flows.httpx.Client() as client:
        assert flows.send(claimed, client=client).ok  # sent, then the worker dies before recording it
    assert deliver(now + timedelta(seconds=30))["delivered"] == 0  # still leased to the dead worker
    assert deliver(now + timedelta(seconds=61))["delivered"] == 1
    assert len(receiver.received) == 2 and len(receiver.accepted) == 1
    with database.get_session() as s:
        delivery = s.scalar(select(WebhookDelivery))
        assert (delivery.status, delivery.attempts, delivery.claim_token) == ("delivered", 2, None)


def test_two_workers_never_double_send_and_keep_each_subscriptions_order(api, receiver):
    receiver.start()
    subscribe(api, receiver, name="a", event_types=["incident.created"])
    other = Receiver().start()
    try:
        sub_b = api.post("webhooks", {"name": "b", "url": other.url, "event_types": ["incident.created"]})
        other.secret = sub_b["secret"]
        numbers = [api.incident()["number"] for _ in range(12)]
        barrier = threading.Barrier(2)

        def work():
            barrier.wait()
            flows.deliver_pending(policy=POLICY)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for r in (receiver, other):
            got = [x.json["data"]["record"]["number"] for x in r.received]
            assert got == numbers and r.bad_signatures == 0
    finally:
        other.stop()


def test_a_rules_webhook_action_goes_through_the_outbox(api, receiver):
    receiver.start()
    rule = api.rule(
        actions=[
            {
                "type": "notify_webhook",
                "url": receiver.url,
                "headers": {"X-Team": "ops"},
                "fields": ["number"],
            }
        ]
    )
    inc = api.incident()
    assert deliver(utcnow())["delivered"] == 1
    [got] = receiver.received
    assert got.json == {"event": "ticket.rule_matched", "ticket": {"number": inc["number"]}}
    assert got.headers["x-team"] == "ops" and got.headers["x-itsm-event"] == "ticket.rule_matched"
    [entry] = api.get(f"rules/{rule['id']}/deliveries")
    assert entry["status"] == "delivered"
