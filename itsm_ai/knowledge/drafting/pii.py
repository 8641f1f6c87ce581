"""Remove personal data from ticket text before it is reused in articles or sent to a language model.

Replaced with placeholders: credentials in URLs and ``password: ...`` phrases ([secret]), e-mail
addresses ([email]), IP and MAC addresses ([ip], [mac]), phone numbers ([phone]) and person names
where the text shows them: greetings ("Hi John,"), sign-offs ("Regards, Jane Doe"), labelled fields
("Caller: ...", "Requested by ..."), titles ("Mr. Smith") and "my name is ...". A name found once is
replaced everywhere else in the text too. Rule-based, so it favours precision on the common forms;
callers that know names (the caller, the assignee) should pass them in ``names``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

EMAIL = "[email]"
PHONE = "[phone]"
NAME = "[name]"
IP = "[ip]"
MAC = "[mac]"
SECRET = "[secret]"

_URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/@:]+(?::[^\s/@]*)?@", re.IGNORECASE)
# A credential after "password is / password: / pwd=": only a token with a digit or a symbol, so that
# "password is expired" stays while "password is Winter2024!" goes.
_SECRET = re.compile(
    r"(?i)\b(password|passwd|pwd|passcode|pin|api[_ -]?key|token|secret)(\s*(?:\bis\b|\bwas\b|:|=)\s*)"
    r"(?![\[(])(?=[^\s]*?[\d_!@#$%^&*+=~])(\S+)"
)
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_MAC = re.compile(r"(?<![\w:-])[0-9A-Fa-f]{2}(?:([:-])[0-9A-Fa-f]{2})(?:\1[0-9A-Fa-f]{2}){4}(?![\w:-])")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?:/\d{1,2})?(?![\w.]*\d)"
)
_IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}"
    r"(?::[0-9A-Fa-f]{1,4}){0,5})?|::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})(?![\w:])"
)
# A run of digits with phone separators; validated by _looks_like_phone.
_PHONE_CANDIDATE = re.compile(r"(?<![\w/.:-])(\+|00)?\(?\d[\d \t().\-/]{5,}\d(?![\w/:-]|\.\d)")
_PHONE_LABEL = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|call(?: me)?(?: at| on)?|ext|extension|fax|whatsapp|"
    r"reach me(?: at| on)?|contact(?: number)?|number|no)\.?\s*[:#]?\s*$"
)
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")

_NAME_WORD = r"[A-Z][a-z]+(?:[-'’][A-Z]?[a-z]+)?"
_FULL_NAME = rf"{_NAME_WORD}(?:[ \t]+(?:[A-Z]\.[ \t]*)?{_NAME_WORD}){{0,2}}"
_NOT_NAMES = frozenset(
    """team all there everyone everybody support sir madam colleagues folks guys it helpdesk service desk
    admin admins world friends people the servicedesk security network hr finance it-support again
    again team there sirs ladies gentlemen good morning afternoon evening best kind warm many thanks
    regards sincerely cheers thank you for your the this that please issue problem ticket user users
    customer customers yes no ok okay hi hello hey dear""".split()
)
_TITLE = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?[ \t]+(?P<name>{_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)")
_GREETING = re.compile(
    rf"(?m)(?:^|(?<=[.!?]\s))[ \t]*(?:Hi|Hello|Hey|Dear|Good (?:morning|afternoon|evening)|Greetings|Morning)"
    rf"[ \t,]+(?P<name>{_FULL_NAME})(?=[ \t]*(?:[,!:\n]|$))"
)
_SIGN_OFF = re.compile(
    rf"(?im)(?:^|(?<=[.!?]\s))[ \t]*(?:best regards|kind regards|warm regards|regards|many thanks|"
    rf"thanks(?: again)?|thank you|cheers|sincerely|best wishes|best|br|rgds|thx|ta)"
    rf"[ \t]*[,.!-]?[ \t]*\n?[ \t]*"
    rf"(?-i:(?P<name>{_FULL_NAME}))(?=[ \t]*(?:$|\n|[,.(<\[|]))"
)
_NEXT_LABEL = r"\s+[A-Z][a-z]+(?:\s[a-z]+)?\s*:"
_FIELD = re.compile(
    r"(?i)\b(?P<label>caller|requester|requested (?:by|for)|reported by|opened by|submitted by|raised by|"
    r"created by|on behalf of|contact(?: person| name)?|user ?name|end user|affected user|employee(?: name)?|"
    r"customer(?: name)?|assigned to|assignee|approver|line manager|full name)[ \t]*[:=][ \t]*"
    rf"(?-i:(?P<name>[A-Z][a-z]+,[ \t]*{_NAME_WORD}|{_FULL_NAME}|[a-z][a-z0-9._-]{{2,}}))"
    rf"(?=[ \t]*(?:$|[,;(<\[|\n]|\s-\s|{_NEXT_LABEL}))"
)
_HEADER = re.compile(
    rf"(?m)^[ \t]*(?:From|To|Cc|Sent by|Reply-To)[ \t]*:[ \t]*"
    rf"(?P<name>[A-Z][a-z]+,[ \t]*{_NAME_WORD}|{_FULL_NAME})"
    r"(?=[ \t]*(?:$|[,;(<\[|]))"
)
_BY_NAME = re.compile(
    rf"(?i:\b(?:reported|requested|raised|submitted|opened|created|approved|escalated) by|\bon behalf of|"
    rf"\b(?:spoke|talked) (?:to|with)|\basked|\binformed|\bcalled back)[ \t]+"
    rf"(?P<name>{_NAME_WORD}[ \t]+{_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)\b"
)
_EMAIL_NAME = re.compile(r"^([A-Za-z]{2,})[._]([A-Za-z]{2,})$")
_MY_NAME = re.compile(rf"\b[Mm]y name is\s+(?P<name>{_FULL_NAME})")
_INTRO = re.compile(
    rf"\b(?:[Tt]his is|I am|I'm)\s+(?P<name>{_FULL_NAME})(?=\s+(?:from|speaking|here|at|in)\b|,)"
)


@dataclass
class ScrubResult:
    """Scrubbed text and how many items of each kind were replaced."""

    text: str
    counts: Counter[str] = field(default_factory=Counter)
    names: list[str] = field(default_factory=list)


def _looks_like_phone(match: re.Match[str], text: str) -> bool:
    raw = match.group(0).strip()
    digits = re.sub(r"\D", "", raw)
    if not 7 <= len(digits) <= 15:
        return False
    if _DATE_LIKE.match(raw) or re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", raw):
        return False
    labelled = bool(_PHONE_LABEL.search(text[max(0, match.start() - 30) : match.start()]))
    international = raw.startswith(("+", "00"))
    separators = re.sub(r"[\d+]", "", raw)
    if not separators.strip():
        # A bare digit run is an error code or an order number unless the context says phone.
        return labelled or (international and len(digits) >= 9)
    groups = [g for g in re.split(r"[\s().\-/]+", raw.lstrip("+")) if g]
    if "." in separators and not international and [len(g) for g in groups] != [3, 3, 4]:
        return labelled  # 10.0.19041 or "12.04 13.10" are versions, 555.123.4567 a phone
    if "/" in separators and not labelled:
        return False
    return labelled or international or len(digits) >= 9 or (len(groups) >= 2 and len(digits) >= 7)


def _plausible_name(name: str) -> str | None:
    words = [w for w in re.split(r"[\s,]+", name.strip()) if w]
    while words and words[-1].casefold().strip(".") in _NOT_NAMES:
        words.pop()
    if not words or words[0].casefold().strip(".") in _NOT_NAMES:
        return None
    if any(w.casefold().strip(".") in _NOT_NAMES for w in words):
        return None
    return " ".join(words)


def scrub_report(text: str | None, *, names: Iterable[str] = (), ip: bool = True) -> ScrubResult:
    """Scrub personal data and report what was replaced."""
    if not text:
        return ScrubResult(text or "")
    counts: Counter[str] = Counter()

    def sub(pattern: re.Pattern[str], repl, value: str, kind: str) -> str:
        def _repl(m: re.Match[str]) -> str:
            out = repl(m) if callable(repl) else repl
            if out != m.group(0):
                counts[kind] += 1
            return out

        return pattern.sub(_repl, value)

    text = sub(_URL_CREDENTIALS, lambda m: f"{m.group(1)}{SECRET}@", text, "secret")
    text = sub(_SECRET, lambda m: f"{m.group(1)}{m.group(2)}{SECRET}", text, "secret")
    found: list[str] = [n.strip() for n in names if n and n.strip()]
    # first.last@company addresses name their owner: that name is personal data elsewhere in the text too.
    for address in _EMAIL.findall(text):
        parts = _EMAIL_NAME.match(address.split("@", 1)[0])
        if parts and (name := _plausible_name(f"{parts[1].title()} {parts[2].title()}")):
            found.append(name)
    text = sub(_EMAIL, EMAIL, text, "email")
    text = sub(_MAC, MAC, text, "mac")
    if ip:
        text = sub(_IPV4, IP, text, "ip")
        text = sub(_IPV6, IP, text, "ip")
    text = sub(
        _PHONE_CANDIDATE, lambda m: PHONE if _looks_like_phone(m, m.string) else m.group(0), text, "phone"
    )

    def take(group: str):
        def _repl(m: re.Match[str]) -> str:
            name = _plausible_name(m.group(group))
            if not name:
                return m.group(0)
            found.append(name)
            start = m.start(group) - m.start(0)
            raw = m.group(group)
            # Keep whatever followed the accepted words of the name (e.g. a trailing "Team").
            tail = raw[raw.find(name.split()[-1]) + len(name.split()[-1]) :] if name.split() else ""
            return m.group(0)[:start] + NAME + tail + m.group(0)[start + len(raw) :]

        return _repl

    for pattern in (_TITLE, _GREETING, _SIGN_OFF, _MY_NAME, _INTRO, _BY_NAME, _FIELD, _HEADER):
        text = sub(pattern, take("name"), text, "name")

    # Every other mention of a found name, and of its parts ("John" after "John Smith").
    variants: set[str] = set()
    for name in found:
        variants.add(name)
        variants.update(
            w for w in re.split(r"[\s,]+", name) if len(w) >= 3 and w.casefold() not in _NOT_NAMES
        )
    for variant in sorted(variants, key=len, reverse=True):
        pattern = re.compile(rf"(?<![\w\[]){re.escape(variant)}(?![\w\]])")
        text = sub(pattern, NAME, text, "name")
    return ScrubResult(text, counts, sorted(set(found)))


def scrub(text: str | None, *, names: Iterable[str] = (), ip: bool = True) -> str:
    """Return text with e-mails, phones, IPs, credentials and detectable person names replaced."""
    return scrub_report(text, names=names, ip=ip).text


def contains_pii(text: str | None) -> bool:
    """True when scrubbing would change the text."""
    return bool(text) and scrub(text) != text
