"""Password hashing (argon2id): at most `password_hash_concurrency` hashes at once, and a dummy verification
for users without a password so that an unknown user takes as long as a known one."""

from __future__ import annotations

import os
import secrets
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from itsm_ai.config import get_settings


@lru_cache
def _hasher_for(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _hasher() -> PasswordHasher:
    settings = get_settings()
    return _hasher_for(settings.password_hash_time_cost, settings.password_hash_memory_kib)


@lru_cache
def _hash_slots_for(slots: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(slots)


def _hash_slots() -> threading.BoundedSemaphore:
    # argon2 is CPU- and memory-bound: with as many hashes at once as request threads, a burst of logins
    # (100 users signing in) took every core, and every other request waited (issue 13: login p50 35 s).
    # Hashes beyond the cores queue here instead, and the rest of the service keeps a share of the CPU.
    return _hash_slots_for(get_settings().password_hash_concurrency or os.cpu_count() or 1)


def hash_password(password: str) -> str:
    """Hash a password with argon2id (at most `password_hash_concurrency` at once)."""
    with _hash_slots():
        return _hasher().hash(password)


@lru_cache
def _dummy_hash_for(time_cost: int, memory_kib: int) -> str:
    return _hasher_for(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


def _dummy_hash() -> str:
    settings = get_settings()
    return _dummy_hash_for(settings.password_hash_time_cost, settings.password_hash_memory_kib)


def verify_password(hashed: str | None, password: str) -> bool:
    """True when the password matches the stored hash (False for users without a password).

    Without a hash a dummy one is verified all the same, so an unknown user takes as long as a known one."""
    target = hashed or _dummy_hash()
    try:
        with _hash_slots():
            return _hasher().verify(target, password) and bool(hashed)
    except (VerificationError, InvalidHashError):
        return False
