"""SLA test fixtures: an app without the in-process worker, a controllable SLA clock, API helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import Factory, users  # noqa: F401 - `users` is re-used as a fixture here

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday, well before the real "now" of the store


class FakeClock:
    """The SLA engine's now, moved by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def app(db):
    """The app without the in-process worker: the tests run the sweep themselves at chosen instants."""
    from itsm_ai.main import create_app

    return create_app(start_worker=False)


@pytest.fixture
def client(app) -> Iterator:
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """Replace the SLA engine's clock; starts at T0."""
    from itsm_ai.sla import service

    fake = FakeClock(T0)
    monkeypatch.setattr(service, "clock", fake)
    return fake


class SlaApi(Factory):
    """Record factories plus SLA helpers."""

    def policy(self, name: str, **fields: Any) -> dict[str, Any]:
        body = {"name": name, "response_target": 60, "resolution_target": 480, **fields}
        return self.post("sla/policies", body, "admin")

    def calendar(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.post("sla/calendars", {"name": name, **fields}, "admin")

    def clocks(self, path: str, ref: str | int, as_: str = "agent") -> dict[str, dict[str, Any]]:
        return {c["kind"]: c for c in self.get(f"{path}/{ref}/sla", as_)}

    def sla_audit(self, path: str, ref: str | int) -> list[tuple[str, str | None]]:
        return [
            (e["action"], e["field"])
            for e in self.get(f"{path}/{ref}/audit")
            if e["action"].startswith("sla_")
        ]


@pytest.fixture
def make(client, users) -> SlaApi:  # noqa: F811 - the imported fixture
    return SlaApi(client, users)


def iso(dt: datetime) -> str:
    """The API's rendering of an instant (aware UTC)."""
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def at_utc(value: str) -> datetime:
    """Parse an API timestamp."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


__all__ = ["T0", "FakeClock", "SlaApi", "at_utc", "iso"]
