"""Password hashing under load (issue 13's load test: login p50 35 s): at most `password_hash_concurrency`
argon2 hashes at once per process, and a login hashes holding no transaction (no pooled connection; on
SQLite not the write lock)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from itsm_ai.auth import passwords, service
from itsm_ai.config import get_settings


class _SlowHasher:
    """Stands in for argon2: counts the hashes running at once and runs `during` inside each."""

    def __init__(self, seconds: float, during=None) -> None:
        self.seconds, self.during = seconds, during
        self.running = self.most = 0
        self.lock = threading.Lock()

    def _work(self) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if self.during is not None:
                self.during()
            time.sleep(self.seconds)
        finally:
            with self.lock:
                self.running -= 1

    def verify(self, hashed: str, password: str) -> bool:
        self._work()
        return password == "right"

    def hash(self, password: str) -> str:
        self._work()
        return f"fake${password}"


@pytest.fixture
def slow_hasher(monkeypatch):
    def install(seconds: float, slots: int, during=None) -> _SlowHasher:
        fake = _SlowHasher(seconds, during)
        monkeypatch.setattr(get_settings(), "password_hash_concurrency", slots)
        monkeypatch.setattr(passwords, "_hasher", lambda: fake)
        return fake

    return install


@pytest.mark.parametrize("slots", [1, 3])
def test_no_more_hashes_at_once_than_the_slots(slow_hasher, slots):
    fake = slow_hasher(0.05, slots)
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(
            pool.map(lambda i: passwords.verify_password("h", "right" if i % 2 else "wrong"), range(12))
        )
        hashes = list(pool.map(passwords.hash_password, ["a", "b", "c", "d"]))
    assert results == [bool(i % 2) for i in range(12)]
    assert hashes == ["fake$a", "fake$b", "fake$c", "fake$d"]
    assert fake.most == slots


def test_the_default_slots_are_the_cores(slow_hasher):
    import os

    fake = slow_hasher(0.05, 0)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _i: passwords.verify_password("h", "x"), range(16)))
    assert fake.most == min(16, os.cpu_count() or 1)


def test_a_login_hashes_outside_its_transaction(db_session, slow_hasher):
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role

    service.create(
        db_session=db_session, user_in=UserCreate(username="hasher", role=Role.agent, password="x" * 12)
    )
    db_session.commit()
    seen: list[bool] = []
    slow_hasher(0.0, 1, during=lambda: seen.append(db_session.in_transaction()))
    user = service.authenticate(db_session=db_session, username="hasher", password="right")
    db_session.commit()
    assert user.username == "hasher"
    # The throttle's check and the user were read before; the hash ran with the read transaction ended.
    assert seen == [False]
