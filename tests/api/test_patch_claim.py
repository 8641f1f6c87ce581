"""A PATCH whose version another writer is changing answers 409 at once instead of queueing on the row lock.

Issue 13 (load test): agents' PATCHes of one ticket with the same version waited behind the first writer's
row lock until it committed (p95 47 s under load), only to answer 409 then.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from itsm_ai.records import events
from tests.api.conftest import API, ON_SQLITE
from tests.api.test_concurrency import (  # noqa: F401 - the fixtures
    _parallel,
    _statuses,
    hashing_encoder,
    live_server,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_first_update():
    """The first incident update holds its transaction (and on PostgreSQL the row lock) for `hold` seconds."""
    state = {"hold": 2.0, "held": False, "lock": threading.Lock()}

    def listener(_db_session, event) -> None:
        if event.kind != "updated" or event.record_type != "incident":
            return
        with state["lock"]:
            first, state["held"] = not state["held"], True
        if first:
            time.sleep(state["hold"])

    events.subscribe(listener)
    try:
        yield state
    finally:
        events.unsubscribe(listener)


def test_50_parallel_patches_of_one_version_answer_409_without_waiting_for_the_winner(
    live_server,  # noqa: F811 - the fixture imported above
    slow_first_update,
):
    from tests.api.conftest import _sign_in_everyone

    headers = _sign_in_everyone()["agent"].headers
    created = httpx.post(f"{live_server}{API}/incidents", json={"short_description": "Hot"}, headers=headers)
    assert created.status_code == 201, created.text
    number, version = created.json()["number"], created.json()["version"]
    finished: dict[int, float] = {}

    def patch(i: int):
        async def send(http: httpx.AsyncClient) -> httpx.Response:
            r = await http.patch(
                f"{live_server}{API}/incidents/{number}",
                json={"version": version, "short_description": f"Edit {i}"},
                headers=headers,
            )
            finished[i] = time.monotonic()
            return r

        return send

    responses = asyncio.run(_parallel([patch(i) for i in range(50)]))
    statuses = _statuses(responses)
    assert set(statuses) <= {200, 409}, (statuses, [r.text for r in responses if r.status_code >= 500][:3])
    assert statuses[200] == 1, statuses
    conflicts = [r.json()["error"] for r in responses if r.status_code == 409]
    assert all(e["fields"][0]["field"] == "version" for e in conflicts)
    if not ON_SQLITE:
        # The winner held its row for 2 s: a loser that found the row locked answered before the winner did
        # (before the fix every loser queued on the lock and answered after it).
        winner_done = next(finished[i] for i, r in enumerate(responses) if r.status_code == 200)
        busy = [i for i, r in enumerate(responses) if "right now" in r.text]
        assert busy, conflicts[:3]
        assert all(finished[i] < winner_done for i in busy)
    stored = httpx.get(f"{live_server}{API}/incidents/{number}", headers=headers).json()
    assert stored["version"] == version + 1


@pytest.mark.skipif(ON_SQLITE, reason="PostgreSQL row locks (SQLite serialises writers at BEGIN IMMEDIATE)")
def test_a_patch_of_a_row_another_writer_holds_answers_409_at_once_with_the_current_version(client, users):
    from sqlalchemy import text

    from itsm_ai import database

    headers = users["agent"].headers
    created = client.post(f"{API}/incidents", json={"short_description": "Held"}, headers=headers).json()
    holder = database.get_engine().connect()
    holder.execute(text("SELECT id FROM incidents WHERE id = :id FOR UPDATE"), {"id": created["id"]})
    answer: dict[str, object] = {}

    def send() -> None:
        answer["r"] = client.patch(
            f"{API}/incidents/{created['number']}",
            json={"version": created["version"], "description": "mine"},
            headers=headers,
        )

    thread = threading.Thread(target=send, daemon=True)
    try:
        thread.start()
        thread.join(10)
        waited = thread.is_alive()
    finally:
        holder.rollback()
        holder.close()
        thread.join(30)
    assert not waited, "the PATCH queued on the row lock"
    r = answer["r"]
    assert r.status_code == 409, r.text
    assert r.json()["error"]["current_version"] == created["version"]
    # Nothing was written: the same version updates once the other writer is gone.
    again = client.patch(
        f"{API}/incidents/{created['number']}",
        json={"version": created["version"], "description": "mine"},
        headers=headers,
    )
    assert again.status_code == 200, again.text


@pytest.mark.skipif(ON_SQLITE, reason="PostgreSQL row locks")
def test_a_row_referenced_by_an_open_insert_is_not_a_writer(client, users):
    """A transaction inserting a row that references the ticket (its foreign key check takes FOR KEY SHARE)
    does not make a PATCH of the ticket answer 409."""
    from sqlalchemy import text

    from itsm_ai import database

    headers = users["agent"].headers
    created = client.post(
        f"{API}/incidents", json={"short_description": "Referenced"}, headers=headers
    ).json()
    holder = database.get_engine().connect()
    try:
        holder.execute(text("SELECT id FROM incidents WHERE id = :id FOR KEY SHARE"), {"id": created["id"]})
        r = client.patch(
            f"{API}/incidents/{created['number']}",
            json={"version": created["version"], "description": "mine"},
            headers=headers,
        )
    finally:
        holder.rollback()
        holder.close()
    assert r.status_code == 200, r.text
