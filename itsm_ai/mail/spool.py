"""The spool: a received message is on disk (fsynced) before the SMTP receiver answers 250.

The receiver only writes here; a processor takes files in order, hands them to intake and deletes them once
intake committed (or dead-lettered) them. A process killed at any point loses nothing: unprocessed files stay,
and a file whose ticket committed just before the kill is recognised again by its Message-ID (a duplicate).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

from itsm_ai.mail import service as mail_service


class Spool:
    """Files `<time>-<uuid>.eml` (plus `.json` with the envelope) in the spool folder."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root or mail_service.spool_dir())
        self._claimed: set[str] = set()
        self._lock = threading.Lock()

    def put(self, raw: bytes, *, recipients: list[str], mail_from: str | None) -> str:
        """Write a message durably; returns its spool name."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        envelope = {"recipients": recipients, "mail_from": mail_from}
        for suffix, data in ((".json", json.dumps(envelope).encode()), (".eml", raw)):
            tmp = tmp_dir / f"{name}{suffix}"
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            # The .eml is renamed last: a spool file visible to the processor always has its envelope.
            os.replace(tmp, self.root / f"{name}{suffix}")
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return name

    def pending(self) -> list[str]:
        """Names of messages waiting, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.eml"))

    def claim(self, name: str) -> bool:
        """Take a message for processing in this process (each one once)."""
        with self._lock:
            if name in self._claimed or not (self.root / f"{name}.eml").exists():
                return False
            self._claimed.add(name)
            return True

    def release(self, name: str) -> None:
        """Give a claimed message back (to try again later)."""
        with self._lock:
            self._claimed.discard(name)

    def read(self, name: str) -> tuple[bytes, list[str]]:
        """The raw message and its envelope recipients."""
        raw = (self.root / f"{name}.eml").read_bytes()
        try:
            envelope = json.loads((self.root / f"{name}.json").read_text())
        except (FileNotFoundError, ValueError):
            envelope = {}
        return raw, list(envelope.get("recipients") or [])

    def done(self, name: str) -> None:
        """Remove a processed message."""
        (self.root / f"{name}.eml").unlink(missing_ok=True)
        (self.root / f"{name}.json").unlink(missing_ok=True)
        with self._lock:
            self._claimed.discard(name)
