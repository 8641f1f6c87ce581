"""E-mail intake: throughput and latency from SMTP receipt to committed ticket (triage on), the 93 real
samples, and 1,000 mails with the intake process killed (-9) midway and restarted: none lost, none duplicated.

Run ``python -m benchmarks.bench_mail`` (``--tiny`` for CI: 30 mails, 60 in the crash test, the hashing
encoder). It builds a throw-away database with the demo data (about 750 real tickets, users, groups), trains
the demo triage models (category, assignment group), builds the similar-ticket index (MiniLM unless
``--hash-encoder``), then:

1. baseline: the same intake called in-process, one mail after another (no SMTP, no spool);
2. SMTP: ``itsm-ai mail serve`` in its own process; mails are sent with smtplib and timed from the 250 reply
   (the spool holds them) to the commit of the ticket (the intake row's time);
3. the 93 real messages of ../shared/data/mail_samples (strict RFC 3834 settings, and with
   ``ITSM_MAIL_BULK_CREATES_TICKETS`` on);
4. the crash test: the receiver is killed with SIGKILL after about half the mails were committed, restarted,
   the client resends what got no 250 and, to test the Message-ID dedupe, the last mails that did.

The peer figures (Request Tracker 5 with rt-mailgate on PostgreSQL, measured on this kind of machine by the
issue's author: 2.4 mails/s, 91 of 93 samples as tickets) are printed beside ours; they are not re-measured
here. Writes ``benchmarks/results/mail.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="itsm-bench-mail-"))
# The database may be given (e.g. PostgreSQL: ITSM_DATABASE_URL=postgresql+psycopg://...); the rest is ours.
os.environ.setdefault("ITSM_DATABASE_URL", f"sqlite:///{_TMP / 'bench.db'}")
ENV = {
    "ITSM_DATA_DIR": str(_TMP / "var"),
    "ITSM_MODELS_DIR": str(_TMP / "models"),
    "ITSM_SECRET_KEY": "bench-secret-key-that-is-long-enough-for-hs256",
    "ITSM_KNOWLEDGE_WARM_ON_STARTUP": "false",
    "ITSM_MAIL_ADDRESS": "helpdesk@bench.example.com",
    "ITSM_MAIL_RATE_LIMIT_COUNT": "1000000",
}
os.environ.update(ENV)

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SAMPLES = REPO.parent / "shared" / "data" / "mail_samples"
PEER = {
    "name": "Request Tracker 5 (rt-mailgate, PostgreSQL)",
    "mails_per_second": 2.4,
    "samples_as_tickets": 91,
}
SENDERS = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _texts() -> list[tuple[str, str]]:
    """(subject, body) pairs from the bundled real ticket texts."""
    from itsm_ai.demo.data import TOPICS_CSV

    with TOPICS_CSV.open(newline="", encoding="utf-8") as handle:
        docs = [row["Document"] for row in csv.DictReader(handle)]
    return [(" ".join(d.split()[:8]).capitalize(), d) for d in docs if d.strip()]


def _mail(i: int, tag: str, texts: list[tuple[str, str]]) -> tuple[str, bytes]:
    subject, body = texts[i % len(texts)]
    msg = EmailMessage()
    msg["From"] = f"Bench User {i % SENDERS} <bench-user-{i % SENDERS}@example.com>"
    msg["To"] = ENV["ITSM_MAIL_ADDRESS"]
    msg["Subject"] = f"{subject} ({tag} {i})"
    message_id = make_msgid(idstring=f"{tag}-{i}", domain="bench.example.com")
    msg["Message-ID"] = message_id
    msg.set_content(body + "\n\nThanks,\nBench User\n")
    return message_id.strip("<>"), msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))  # as on the wire


def _setup(hash_encoder: bool) -> dict:
    from itsm_ai.auth import service as auth_service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.database import get_session
    from itsm_ai.demo.load import load_demo
    from itsm_ai.demo.triage_models import ensure_demo_models
    from itsm_ai.engine import install
    from itsm_ai.migrate import upgrade

    started = time.perf_counter()
    upgrade()
    install()
    counts = load_demo()
    trained = ensure_demo_models()
    with get_session() as session:
        for n in range(SENDERS):
            user_in = UserCreate(username=f"bench-user-{n}", email=f"bench-user-{n}@example.com")
            auth_service.create(db_session=session, user_in=user_in, actor=None)
    subprocess.run(
        [sys.executable, "-m", "itsm_ai.cli", "index", "rebuild"],
        env=_child_env(hash_encoder),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return {"demo": counts, "models": trained, "seconds": round(time.perf_counter() - started, 1)}


def _child_env(hash_encoder: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["ITSM_KNOWLEDGE_ENCODER"] = "hash" if hash_encoder else "model"
    env["PYTHONPATH"] = str(REPO)
    return env


def _rows(message_ids: list[str]) -> dict[str, object]:
    from sqlalchemy import select

    from itsm_ai.database import get_session
    from itsm_ai.mail.models import MailMessage

    out = {}
    with get_session() as session:
        for start in range(0, len(message_ids), 500):
            chunk = message_ids[start : start + 500]
            for row in session.scalars(select(MailMessage).where(MailMessage.message_id.in_(chunk))):
                out[row.message_id] = row
    return out


def _triage_share(numbers: list[str]) -> float:
    """Share of the new tickets that got a triage suggestion (the models ran)."""
    from sqlalchemy import select

    from itsm_ai.database import get_session
    from itsm_ai.ticket.models import Incident

    with get_session() as session:
        rows = session.scalars(select(Incident.suggestions).where(Incident.number.in_(numbers))).all()
    scored = [
        r
        for r in rows
        if isinstance(r, dict)
        and (r.get("fields") or {}).get("category", {}).get("status") not in (None, "unavailable")
    ]
    return len(scored) / max(1, len(rows))


def baseline(n: int, texts) -> dict:
    """The intake in-process, sequentially: what the SMTP path adds is measured against this."""
    from itsm_ai.mail.flows import take_in
    from itsm_ai.mail.smtpd import limit_torch_threads

    limit_torch_threads()  # as `mail serve` does
    take_in(_mail(10**6, "base-warm", texts)[1], source="file")  # loads the models and the index
    latencies, numbers = [], []
    started = time.perf_counter()
    for i in range(n):
        _mid, raw = _mail(i, "base", texts)
        t0 = time.perf_counter()
        result = take_in(raw, source="file")
        latencies.append(time.perf_counter() - t0)
        numbers.append(result.number)
    seconds = time.perf_counter() - started
    return {
        "mails": n,
        "mails_per_second": round(n / seconds, 2),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
        "triage_share": round(_triage_share(numbers), 3),
    }


class Receiver:
    """`itsm-ai mail serve` in its own process."""

    def __init__(self, port: int, hash_encoder: bool, workers: int):
        self.port, self.hash_encoder, self.workers = port, hash_encoder, workers
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "itsm_ai.cli",
            "mail",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.process = subprocess.Popen(
            cmd, env=_child_env(self.hash_encoder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("mail serve exited at start-up") from None
                time.sleep(0.2)
        raise RuntimeError("mail serve did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


errors: list[str] = []


def _send(port: int, mails: list[tuple[str, bytes]], sent_at: dict[str, float], failed: list[str]) -> None:
    """Deliver like an MTA: one connection, reconnect on failure; a mail counts as sent at its 250."""
    client = None
    for message_id, raw in mails:
        try:
            if client is None:
                client = smtplib.SMTP("127.0.0.1", port, timeout=30)
            client.sendmail("bench@example.com", [ENV["ITSM_MAIL_ADDRESS"]], raw)
            sent_at[message_id] = time.time()
        except (smtplib.SMTPException, OSError) as exc:
            failed.append(message_id)
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            client = None
    if client is not None:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            pass


def _wait_for(message_ids: list[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    rows = {}
    while time.monotonic() < deadline:
        rows = _rows(message_ids)
        if len(rows) >= len(message_ids):
            break
        time.sleep(0.25)
    return rows


def _timestamp(row) -> float:
    from datetime import UTC

    return row.received_at.replace(tzinfo=UTC).timestamp()


def smtp_run(n: int, latency_n: int, texts, hash_encoder: bool, workers: int, clients: int) -> dict:
    """A burst of `n` mails (throughput), then `latency_n` mails one at a time (latency without a queue)."""
    mails = [_mail(i, "smtp", texts) for i in range(n)]
    paced = [_mail(i, "paced", texts) for i in range(latency_n)]
    receiver = Receiver(_free_port(), hash_encoder, workers)
    receiver.start()
    try:
        # One warm-up mail: the receiver loads the models and the index on its first ticket.
        warm = _mail(10**6, "warm", texts)
        _send(receiver.port, [warm], {}, [])
        _wait_for([warm[0]], 300)
        sent_at: dict[str, float] = {}
        failed: list[str] = []
        started = time.time()
        threads = [
            threading.Thread(target=_send, args=(receiver.port, mails[k::clients], sent_at, failed))
            for k in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = _wait_for([m for m, _ in mails], 60 + n * 5)
        paced_sent: dict[str, float] = {}
        for mail in paced:
            _send(receiver.port, [mail], paced_sent, failed)
            _wait_for([mail[0]], 60)
        paced_rows = _rows([m for m, _ in paced])
    finally:
        receiver.stop()
    done = [_timestamp(rows[m]) for m, _ in mails if m in rows]
    queued = [_timestamp(rows[m]) - sent_at[m] for m, _ in mails if m in rows and m in sent_at]
    alone = [
        _timestamp(paced_rows[m]) - paced_sent[m] for m, _ in paced if m in paced_rows and m in paced_sent
    ]
    seconds = max(done) - started if done else float("nan")
    numbers = [rows[m].number for m, _ in mails if m in rows]
    return {
        "mails": n,
        "committed": len(rows),
        "smtp_failures": len(failed),
        "intake_threads": workers,
        "smtp_clients": clients,
        "mails_per_second": round(len(done) / seconds, 2),
        "burst_p50_ms": round(_percentile(queued, 50) * 1000, 1),
        "burst_p95_ms": round(_percentile(queued, 95) * 1000, 1),
        "one_at_a_time": {
            "mails": latency_n,
            "committed": len(paced_rows),
            "p50_ms": round(_percentile(alone, 50) * 1000, 1),
            "p95_ms": round(_percentile(alone, 95) * 1000, 1),
        },
        "triage_share": round(_triage_share(numbers), 3),
    }


def samples_run() -> dict:
    """The 93 real messages, in fresh databases: strict settings, then bulk mail allowed to open tickets."""
    from collections import Counter

    from itsm_ai import database
    from itsm_ai.config import get_settings
    from itsm_ai.mail.flows import take_in
    from itsm_ai.migrate import upgrade

    files = sorted(SAMPLES.glob("*.eml"))
    if not files:
        return {"skipped": f"no samples at {SAMPLES}"}
    settings = get_settings()
    out = {}
    for mode, bulk in (("strict", False), ("bulk_allowed", True)):
        settings.database_url = f"sqlite:///{_TMP / f'samples-{mode}.db'}"
        settings.mail_bulk_creates_tickets = bulk
        database.reset_engine()
        upgrade()
        reasons: Counter = Counter()
        outcomes: Counter = Counter()
        started = time.perf_counter()
        for path in files:
            result = take_in(path.read_bytes(), source="file")
            outcomes[str(result.outcome)] += 1
            if result.reason:
                reasons[result.reason.split(":")[0]] += 1
        out[mode] = {
            "messages": len(files),
            "outcomes": dict(outcomes),
            "reasons": dict(reasons),
            "tickets": outcomes["ticket"],
            "tickets_or_comments": outcomes["ticket"] + outcomes["comment"],
            "errors": outcomes["dead_letter"],
            "seconds": round(time.perf_counter() - started, 2),
        }
    settings.database_url = os.environ["ITSM_DATABASE_URL"]
    settings.mail_bulk_creates_tickets = False
    database.reset_engine()
    return out


def crash_run(n: int, texts, hash_encoder: bool, workers: int, resend_confirmed: int) -> dict:
    """Kill -9 the receiver after about half the mails were committed; restart; resend; count."""
    mails = [_mail(i, "crash", texts) for i in range(n)]
    ids = [m for m, _ in mails]
    port = _free_port()
    receiver = Receiver(port, hash_encoder, workers)
    receiver.start()
    sent_at: dict[str, float] = {}
    failed: list[str] = []
    sender = threading.Thread(target=_send, args=(port, mails, sent_at, failed))
    sender.start()
    while len(_rows(ids)) < n // 2:
        time.sleep(0.2)
    committed_before_kill = len(_rows(ids))
    receiver.kill()
    sender.join()
    spooled = len(list((_TMP / "var" / "mail" / "spool").glob("*.eml")))
    receiver = Receiver(port, hash_encoder, workers)
    receiver.start()
    try:
        unconfirmed = [(m, raw) for m, raw in mails if m not in sent_at]
        # A client that lost the 250 of a delivered mail sends it again: these must be recognised.
        confirmed_again = [(m, raw) for m, raw in mails if m in sent_at][-resend_confirmed:]
        retry_failed: list[str] = []
        _send(port, unconfirmed + confirmed_again, {}, retry_failed)
        rows = _wait_for(ids, 120 + n * 3)
    finally:
        receiver.stop()
    from sqlalchemy import func, select

    from itsm_ai.database import get_session
    from itsm_ai.ticket.models import Incident

    with get_session() as session:
        tickets = session.scalar(
            select(func.count()).select_from(Incident).where(Incident.short_description.like("%(crash %"))
        )
        distinct = session.scalar(
            select(func.count(func.distinct(Incident.short_description))).where(
                Incident.short_description.like("%(crash %")
            )
        )
    return {
        "mails": n,
        "committed_before_kill": committed_before_kill,
        "accepted_before_kill": len(sent_at),
        "left_in_spool_at_kill": spooled,
        "resent_unconfirmed": len(unconfirmed),
        "resent_confirmed": len(confirmed_again),
        "intake_rows": len(rows),
        "tickets": tickets,
        "distinct_tickets": distinct,
        "lost": n - len(rows),
        "duplicated": tickets - distinct + max(0, tickets - n),
        "retry_smtp_failures": len(retry_failed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=300, help="mails for the throughput run")
    parser.add_argument("--baseline-mails", type=int, default=100)
    parser.add_argument("--latency-mails", type=int, default=50, help="mails sent one at a time")
    parser.add_argument("--crash-mails", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="intake threads of the receiver")
    parser.add_argument("--clients", type=int, default=2, help="parallel SMTP client connections")
    parser.add_argument("--hash-encoder", action="store_true", help="similar tickets without MiniLM")
    parser.add_argument("--tiny", action="store_true", help="CI size: 30 mails, 60 in the crash test")
    args = parser.parse_args(argv)
    if args.tiny:
        args.mails, args.baseline_mails, args.crash_mails, args.hash_encoder = 30, 15, 60, True
        args.latency_mails = 10
    os.environ["ITSM_KNOWLEDGE_ENCODER"] = "hash" if args.hash_encoder else "model"
    from itsm_ai.config import get_settings

    get_settings.cache_clear()
    texts = _texts()
    report: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}, "peer": PEER}
    print(f"setting up in {_TMP} (demo data, triage models, index) ...", flush=True)
    report["setup"] = _setup(args.hash_encoder)
    report["knowledge_encoder"] = os.environ["ITSM_KNOWLEDGE_ENCODER"]
    print("baseline: in-process intake ...", flush=True)
    report["baseline_in_process"] = baseline(args.baseline_mails, texts)
    print("SMTP receipt -> committed ticket ...", flush=True)
    report["smtp"] = smtp_run(
        args.mails, args.latency_mails, texts, args.hash_encoder, args.workers, args.clients
    )
    print(f"crash test: {args.crash_mails} mails, kill -9 midway ...", flush=True)
    report["crash"] = crash_run(args.crash_mails, texts, args.hash_encoder, args.workers, resend_confirmed=20)
    print("the 93 real samples ...", flush=True)
    report["samples"] = samples_run()
    smtp, base = report["smtp"], report["baseline_in_process"]
    report["ratios"] = {
        "smtp_vs_in_process_throughput": round(smtp["mails_per_second"] / base["mails_per_second"], 2),
        "smtp_vs_peer_throughput": round(smtp["mails_per_second"] / PEER["mails_per_second"], 2),
    }
    report["smtp_errors"] = errors[:20]
    RESULTS_DIR.mkdir(exist_ok=True)
    name = "mail-tiny.json" if args.tiny else "mail.json"
    (RESULTS_DIR / name).write_text(json.dumps(report, indent=2, default=str))
    crash, samples = report["crash"], report["samples"]
    print(json.dumps(report, indent=2, default=str))
    print(
        f"\nSMTP -> ticket: {smtp['mails_per_second']} mails/s (peer {PEER['mails_per_second']}: "
        f"x{report['ratios']['smtp_vs_peer_throughput']}; in-process baseline {base['mails_per_second']}: "
        f"x{report['ratios']['smtp_vs_in_process_throughput']}); "
        f"p95 {smtp['one_at_a_time']['p95_ms']} ms one at a time, {smtp['burst_p95_ms']} ms in the burst; "
        f"triage on {smtp['triage_share']:.0%} of tickets"
    )
    if "strict" in samples:
        print(
            f"samples: {samples['strict']['tickets']} tickets of 93 (strict RFC 3834), "
            f"{samples['bulk_allowed']['tickets_or_comments']} tickets+comments with bulk allowed, "
            f"errors {samples['strict']['errors']}/{samples['bulk_allowed']['errors']} "
            f"(peer: {PEER['samples_as_tickets']})"
        )
    print(f"crash: {crash['mails']} mails, lost {crash['lost']}, duplicated {crash['duplicated']}")
    ok = crash["lost"] == 0 and crash["duplicated"] == 0 and smtp["committed"] == smtp["mails"]
    ok = ok and all(mode.get("errors", 0) == 0 for mode in samples.values() if isinstance(mode, dict))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
