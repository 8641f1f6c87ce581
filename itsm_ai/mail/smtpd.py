"""`itsm-ai mail serve`: an SMTP receiver (aiosmtpd) that spools each message, and processors taking them in.

The receiver answers 250 only after the message is fsynced in the spool; processors (threads) hand spooled
messages to intake. Messages over twice the size limit are refused in the SMTP dialogue (552) so a sender
cannot fill the disk; smaller oversized ones are dead-lettered by intake with the reason.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from itsm_ai.config import get_settings
from itsm_ai.mail.enums import MailSource
from itsm_ai.mail.flows import IntakeResult, TransientError, take_in
from itsm_ai.mail.spool import Spool

log = logging.getLogger(__name__)


class SpoolHandler:
    """aiosmtpd handler: accept every recipient, spool the message, wake the processors."""

    def __init__(self, spool: Spool, wake: threading.Event):
        self.spool = spool
        self.wake = wake

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            name = self.spool.put(raw, recipients=list(envelope.rcpt_tos), mail_from=envelope.mail_from)
        except OSError as exc:
            log.error("cannot spool a message: %s", exc)
            return "451 4.3.0 Requested action aborted: local problem in processing"
        self.wake.set()
        return f"250 2.0.0 OK queued as {name}"


@dataclass
class Processor:
    """Takes spooled messages in until stopped; counts outcomes."""

    spool: Spool
    wake: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    counts: dict[str, int] = field(default_factory=dict)
    retry_seconds: float = 5.0

    def run_once(self) -> int:
        """Process every message waiting now; returns how many were finished."""
        finished = 0
        for name in self.spool.pending():
            if self.stop.is_set():
                break
            if not self.spool.claim(name):
                continue
            try:
                raw, recipients = self.spool.read(name)
                result: IntakeResult = take_in(raw, source=MailSource.smtp, recipients=recipients)
            except TransientError as exc:
                log.warning("intake paused: %s", exc)
                self.spool.release(name)
                self.stop.wait(self.retry_seconds)
                return finished
            except FileNotFoundError:
                self.spool.release(name)
                continue
            self.spool.done(name)
            self.counts[result.outcome] = self.counts.get(result.outcome, 0) + 1
            finished += 1
        return finished

    def run_forever(self) -> None:
        """Loop until stopped, waking when the receiver spools a message (or every second)."""
        while not self.stop.is_set():
            self.wake.clear()
            self.run_once()
            self.wake.wait(1.0)


def limit_torch_threads() -> None:
    """Give PyTorch the configured intra-op threads in an intake process (it parallelises across messages).

    Measured here: a MiniLM embedding of one ticket took 338 ms with two threads on a busy two-core machine
    and 49 ms with one.
    """
    threads = get_settings().mail_intake_torch_threads
    if threads <= 0 or get_settings().knowledge_encoder != "model":
        return
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def make_controller(host: str, port: int, spool: Spool, wake: threading.Event):
    """The aiosmtpd controller (not started) for the host and port."""
    from aiosmtpd.controller import Controller

    limit = get_settings().mail_max_message_bytes * 2
    return Controller(
        SpoolHandler(spool, wake),
        hostname=host,
        port=port,
        data_size_limit=limit,
        decode_data=False,
        server_hostname=get_settings().mail_domain,
        ready_timeout=10.0,
    )


def serve(
    host: str, port: int, *, workers: int = 1, stop: threading.Event | None = None, on_ready=None
) -> dict:
    """Receive on host:port and take messages in until `stop` is set (or Ctrl-C); returns outcome counts."""
    limit_torch_threads()
    spool = Spool()
    wake = threading.Event()
    stop = stop or threading.Event()
    processors = [Processor(spool, wake=wake, stop=stop) for _ in range(max(1, workers))]
    threads = [
        threading.Thread(target=p.run_forever, name=f"mail-intake-{i}", daemon=True)
        for i, p in enumerate(processors)
    ]
    controller = make_controller(host, port, spool, wake)
    controller.start()
    for thread in threads:
        thread.start()
    wake.set()  # take in what an earlier, interrupted run left in the spool
    if on_ready is not None:
        on_ready(controller)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    finally:
        controller.stop()
        wake.set()
        for thread in threads:
            thread.join(30)
    totals: dict[str, int] = {}
    for p in processors:
        for k, v in p.counts.items():
            totals[k] = totals.get(k, 0) + v
    return totals
