"""Real servers and message builders for the mail tests: an aiosmtpd sink, a throw-away dovecot, messages."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import make_msgid
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Sink:
    """Mail received by an aiosmtpd server that stores everything it is sent."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refuse:
            return "451 4.3.0 try again later"
        self.messages.append(message_from_bytes(envelope.original_content, policy=default_policy))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.arrived.set()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until `count` messages arrived."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


def start_sink(**controller_kw):
    """An aiosmtpd server on a free port of 127.0.0.1 (returns the controller and the sink)."""
    from aiosmtpd.controller import Controller

    port = free_port()
    sink = Sink("127.0.0.1", port)
    controller = Controller(sink, hostname="127.0.0.1", port=port, **controller_kw)
    controller.start()
    return controller, sink


def message(
    *,
    sender: str = "alice@example.com",
    to: str = "helpdesk@example.com",
    subject: str = "Printer on floor 3 is jammed",
    body: str | None = "The printer shows error E-42 and will not print.",
    html: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """A real MIME message (multipart when it has HTML or files)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    msg["Message-ID"] = message_id or make_msgid(domain="example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    if body is not None:
        msg.set_content(body)
    if html is not None:
        if body is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments or []:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))  # CRLF, as on the wire


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


# -- dovecot -------------------------------------------------------------------------------------------------


@dataclass
class Dovecot:
    """A throw-away dovecot IMAP server on 127.0.0.1 with one mailbox."""

    root: Path
    port: int
    user: str
    password: str
    process_pid_file: Path

    def stop(self) -> None:
        """Stop the master process and remove the folder."""
        try:
            pid = int(self.process_pid_file.read_text().strip())
            os.kill(pid, 15)
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message into a folder of the mailbox (IMAP APPEND, as an MTA's delivery would)."""
        import imaplib

        client = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            client.login(self.user, self.password)
            client.append(folder, None, None, raw)
        finally:
            client.logout()

    def count(self, folder: str) -> int:
        """Messages in a folder (0 when it does not exist)."""
        import imaplib

        client = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            client.login(self.user, self.password)
            status, data = client.select(f'"{folder}"', readonly=True)
            return int(data[0]) if status == "OK" else 0
        finally:
            client.logout()


def start_dovecot() -> Dovecot:
    """Start dovecot with its own config in a temp folder, listening on a free port of 127.0.0.1."""
    root = Path(tempfile.mkdtemp(prefix="itsm-dovecot-"))
    port = free_port()
    if os.geteuid() == 0:
        # Dovecot refuses to run mail processes as root: the mailbox belongs to the system user "mail".
        entry = pwd.getpwnam("mail")
        uid, gid, internal = entry.pw_uid, entry.pw_gid, "dovecot"
    else:
        uid, gid, internal = os.getuid(), os.getgid(), pwd.getpwuid(os.getuid()).pw_name
    (root / "mail").mkdir()
    (root / "run").mkdir()
    (root / "state").mkdir()
    (root / "users").write_text("helpdesk:{PLAIN}imap-test-pw\n")
    os.chmod(root, 0o755)
    os.chown(root / "mail", uid, gid)
    login_user = "dovenull" if os.geteuid() == 0 else internal
    config = f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = itsm-test-{port}
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login_user}
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
    (root / "dovecot.conf").write_text(config)
    subprocess.run(
        [DOVECOT, "-c", str(root / "dovecot.conf")],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=30,
    )
    server = Dovecot(root, port, "helpdesk", "imap-test-pw", root / "run" / "master.pid")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
    server.stop()
    raise RuntimeError(f"dovecot did not start: {log}")
