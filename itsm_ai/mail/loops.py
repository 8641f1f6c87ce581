"""Loop protection (RFC 3834): which messages must never open a ticket nor get an automatic answer.

Pure: a parsed message and the service's own addresses in, a verdict out. Header markers come first
(Auto-Submitted, Precedence, X-Auto-Response-Suppress, delivery and disposition reports, the null return
path); then the shapes of machine mail that carry no marker: mailer-daemon senders, and the subject lines that
MTAs and out-of-office responders (Exchange, Lotus Notes, Gmail and others, in several languages) write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from itsm_ai.mail.enums import LoopKind
from itsm_ai.mail.parsing import ParsedMail

DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "mail.daemon"})
# Sender local parts that belong to machines only in combination with a bounce-like subject (a human may write
# from postmaster@ too).
ADMIN_LOCAL_PARTS = frozenset({"postmaster", "exchange.administrator", "mail-delivery", "maildelivery"})
BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:"
    r"undeliver(?:able|ed)\b|undelivered mail|delivery (?:status )?notification|delivery notification"
    r"|delivery failure|delivery has failed|delivery failed|mail delivery failed|returned mail\b"
    r"|failure notice|non[- ]?deliver(?:y|able)|warning\.? (?:could not send|mail delayed)"
    r"|mail system error|delayed mail|notice: mail delivery status|message delivery (?:failed|delayed)"
    r"|nicht zustellbar|unzustellbar|non remis|non recapitabile|onbestelbaar|no se puede entregar"
    r")",
    re.IGNORECASE,
)
AUTO_REPLY_SUBJECT = re.compile(
    r"(?:^\s*(?:out of (?:the )?office(?: autoreply)?|automatic reply|auto(?:matic)?[ -]?(?:reply|response)"
    r"|autorespons|auto:|abwesenheitsnotiz|abwesend|réponse automatique|risposta automatica"
    r"|respuesta automática|automatisch antwoord|frånvaro|autosvar|自動応答|自动回复)"
    r"|\bis out of (?:the )?office\b|\bout of (?:the )?office (?:until|till|from)\b|\bon vacation\b)",
    re.IGNORECASE,
)
READ_RECEIPT_SUBJECT = re.compile(
    r"^\s*(?:read:|gelesen:|lu\s*:|return receipt|read receipt|disposition notification"
    r"|note: this return receipt)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """A message that must not become a ticket nor be answered, and why."""

    kind: LoopKind
    reason: str


def _local_part(address: str) -> str:
    return address.split("@", 1)[0].lower()


def check(
    mail: ParsedMail, *, own_addresses: set[str], bulk_is_ticket: bool = False
) -> tuple[Verdict | None, bool]:
    """(verdict, may_auto_reply): a verdict stops the ticket; the flag says whether an answer may be sent."""
    headers = mail.headers
    own = {a.lower() for a in own_addresses if a}
    if mail.from_address in own:
        return Verdict(
            LoopKind.own_address, f"mail from the service's own address {mail.from_address}"
        ), False
    if headers.get("x-itsm-loop", "").lower() in own:
        return Verdict(LoopKind.own_address, "the message carries this service's X-ITSM-Loop marker"), False
    if mail.content_type == "multipart/report":
        report = (mail.report_type or "").lower()
        if report == "disposition-notification":
            return Verdict(
                LoopKind.read_receipt, "a read receipt (multipart/report; disposition-notification)"
            ), False
        return Verdict(
            LoopKind.bounce, f"a delivery report (multipart/report; {report or 'no report-type'})"
        ), False
    if headers.get("x-failed-recipients"):
        return Verdict(LoopKind.bounce, "a bounce (X-Failed-Recipients)"), False
    local = _local_part(mail.from_address)
    subject = mail.subject or ""
    if local in DAEMON_LOCAL_PARTS:
        return Verdict(LoopKind.bounce, f"a bounce (sender {mail.from_address})"), False
    if BOUNCE_SUBJECT.search(subject) and (local in ADMIN_LOCAL_PARTS or _null_return_path(headers)):
        return Verdict(
            LoopKind.bounce, f"a bounce (sender {mail.from_address}, subject {subject[:60]!r})"
        ), False
    auto = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return Verdict(LoopKind.auto_reply, f"Auto-Submitted: {auto}"), False
    if headers.get("x-auto-response-suppress"):
        return Verdict(
            LoopKind.auto_reply, f"X-Auto-Response-Suppress: {headers['x-auto-response-suppress'][:40]}"
        ), False
    for name in ("x-autoreply", "x-autorespond", "x-auto-reply"):
        if headers.get(name):
            return Verdict(LoopKind.auto_reply, f"{name}: {headers[name][:40]}"), False
    if READ_RECEIPT_SUBJECT.search(subject):
        return Verdict(LoopKind.read_receipt, f"a read receipt (subject {subject[:60]!r})"), False
    if AUTO_REPLY_SUBJECT.search(subject):
        return Verdict(LoopKind.auto_reply, f"an automatic reply (subject {subject[:60]!r})"), False
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in {"bulk", "junk", "list", "auto_reply"}:
        if precedence == "auto_reply":
            return Verdict(LoopKind.auto_reply, "Precedence: auto_reply"), False
        if not bulk_is_ticket:
            return Verdict(LoopKind.bulk, f"Precedence: {precedence}"), False
        return None, False
    if _null_return_path(headers):
        # RFC 5321: a null reverse-path marks a notification; a ticket may be fine, an answer never is.
        return None, False
    return None, True


def _null_return_path(headers: dict[str, str]) -> bool:
    return headers.get("return-path", "").strip() in {"<>", ""} and "return-path" in headers
