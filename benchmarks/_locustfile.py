"""The load of bench_load: agents list, read and update incidents; requesters create incidents and chat.

Run by locust (`locust -f benchmarks/_locustfile.py --headless ...`) with these environment variables:
ITSM_LOAD_HOSTS (API base URLs, comma-separated: each user picks one), ITSM_LOAD_AGENTS / ITSM_LOAD_REQUESTERS
(usernames, comma-separated), ITSM_LOAD_PASSWORD, ITSM_LOAD_ACKS (a file: one JSON line per acknowledged
write, checked against the database afterwards), ITSM_LOAD_THINK (scale of the think times, default 1).

Think times are a service desk's pace, not back to back: an agent acts every 5-15 s (list, open, note), a
requester every 10-30 s (describe a problem, read the answer). The first runs (1-3 s for everyone) had each of
the 100 users fire about 30 requests a minute, which is a stress test of 2 cores, not a desk of 100 people.
A 409 on an update (someone changed the ticket first) is a correct answer, not an error; anything else but
2xx is an error.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import uuid

from locust import HttpUser, between, events, task

HOSTS = [h for h in os.environ.get("ITSM_LOAD_HOSTS", "").split(",") if h]
AGENTS = os.environ.get("ITSM_LOAD_AGENTS", "agent").split(",")
REQUESTERS = os.environ.get("ITSM_LOAD_REQUESTERS", "requester").split(",")
PASSWORD = os.environ.get("ITSM_LOAD_PASSWORD", "")
ACKS = os.environ.get("ITSM_LOAD_ACKS", "acks.jsonl")
API = "/api/v1"

_acks_lock = threading.Lock()
_acks = open(ACKS, "a", buffering=1)  # noqa: SIM115 - one line per acknowledged write, flushed per line
_agent_names = itertools.cycle(AGENTS)
_requester_names = itertools.cycle(REQUESTERS)
PROBLEMS = [
    "printer on floor {n} jams on every page",
    "cannot connect to the VPN from home office {n}",
    "outlook keeps asking for my password on laptop {n}",
    "monitor {n} flickers after the docking station update",
    "need access to the finance share for project {n}",
]


def acknowledge(kind: str, **fields: object) -> None:
    """Append one acknowledged write to the acks file."""
    with _acks_lock:
        _acks.write(json.dumps({"kind": kind, **fields}) + "\n")


@events.quitting.add_listener
def _close(**_kwargs: object) -> None:
    _acks.close()


THINK = float(os.environ.get("ITSM_LOAD_THINK", "1"))


class _ItsmUser(HttpUser):
    abstract = True
    username = ""

    def on_start(self) -> None:
        if HOSTS:
            self.client.base_url = random.choice(HOSTS)
        r = self.client.post(
            f"{API}/auth/token", data={"username": self.username, "password": PASSWORD}, name="/auth/token"
        )
        self.client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"


class Agent(_ItsmUser):
    """An agent working the queue: lists, filters, reads and updates incidents."""

    weight = 1
    # Scanning the queue, reading a ticket, typing a work note: 5-15 s between an agent's actions.
    wait_time = between(5 * THINK, 15 * THINK)

    def on_start(self) -> None:
        self.username = next(_agent_names)
        super().on_start()
        self.numbers: list[str] = []

    @task(4)
    def list_queue(self) -> None:
        r = self.client.get(f"{API}/incidents?limit=25", name="/incidents")
        if r.ok:
            self.numbers = [item["number"] for item in r.json()["items"]] or self.numbers

    @task(2)
    def filter_queue(self) -> None:
        self.client.get(f"{API}/incidents?state=new&limit=25", name="/incidents?state")

    @task(3)
    def read(self) -> None:
        if self.numbers:
            self.client.get(f"{API}/incidents/{random.choice(self.numbers)}", name="/incidents/{n}")

    @task(2)
    def update(self) -> None:
        if not self.numbers:
            return
        number = random.choice(self.numbers)
        current = self.client.get(f"{API}/incidents/{number}", name="/incidents/{n}")
        if not current.ok:
            return
        token = uuid.uuid4().hex
        body = {"version": current.json()["version"], "description": f"agent note {token}"}
        with self.client.patch(
            f"{API}/incidents/{number}", json=body, name="/incidents/{n}", catch_response=True
        ) as r:
            if r.status_code == 200:
                acknowledge("update", number=number, token=token, version=r.json()["version"])
            elif r.status_code == 409:
                r.success()  # another agent changed it first: the answer is right, nothing was written


class Requester(_ItsmUser):
    """A requester opening incidents and asking the virtual agent."""

    weight = 1
    # Describing a problem, reading the virtual agent's answer: 10-30 s between a requester's actions.
    wait_time = between(10 * THINK, 30 * THINK)

    def on_start(self) -> None:
        self.username = next(_requester_names)
        super().on_start()

    @task(3)
    def create(self) -> None:
        token = uuid.uuid4().hex
        text = random.choice(PROBLEMS).format(n=random.randint(1, 40))
        r = self.client.post(
            f"{API}/incidents",
            json={"short_description": text, "description": f"load {token}"},
            name="/incidents",
        )
        if r.status_code == 201:
            acknowledge("create", number=r.json()["number"], token=token)

    @task(2)
    def chat(self) -> None:
        text = random.choice(PROBLEMS).format(n=random.randint(1, 40))
        self.client.post(f"{API}/chat", json={"message": text}, name="/chat")

    @task(2)
    def my_tickets(self) -> None:
        self.client.get(f"{API}/incidents?limit=10", name="/incidents (requester)")
