"""Remove personal data from ticket text before it is reused in articles or sent to a language model.

Replaced with placeholders: credentials in URLs, ``password: ...`` / ``pwd=...`` / ``temporary password is
...`` phrases, bearer tokens and API keys ([secret]), host names and FQDNs ([host]), account names such as
``DOMAIN\\user``, ``user@host`` and ``login: jdoe`` ([user]), e-mail addresses ([email]), IP and MAC
addresses ([ip], [mac]), phone numbers ([phone]) and person names
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
HOST = "[host]"
USER = "[user]"

_URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/@:]+(?::[^\s/@]*)?@", re.IGNORECASE)
_SECRET_WORD = (
    r"(?:password|passwort|passwd|pwd|pw|passcode|pass phrase|passphrase|pin|api[_ -]?key|token|secret)"
)
# "password: X" and "pwd=X" always give the credential; after "is / was / to" only a token with a digit or a
# symbol does ("password is expired" stays, "password is Winter2024!" goes), unless the password is said to be
# a temporary, new or initial one ("temporary password is sunshine").
_SECRET_LABELLED = re.compile(
    rf"(?i)\b({_SECRET_WORD})(\s*(?::|=|-{{1,2}}(?=\s+\S*?[\d!@#$%^&*+=~]))\s*)"
    r"(?![\[(])(\S+?)(?=[.,;]?(?:\s|$))"
)
_SECRET = re.compile(
    rf"(?i)\b({_SECRET_WORD})(\s*(?:\bis\b|\bwas\b|\b(?:set|reset|changed) to\b|\bto\b)\s*)"
    r"(?![\[(])(?=[^\s]*?[\d_!@#$%^&*+=~])(\S+?)(?=[.,;]?(?:\s|$))"
)
_NEW_SECRET = re.compile(
    rf"(?i)\b((?:temporary|temp|new|initial|default|one[- ]time|given|generated)\s+{_SECRET_WORD})"
    r"(\s*(?:\bis\b|\bwas\b|:|=|\bof\b)\s*)(?![\[(])(?!(?:not|now|being|still|too|expired|invalid|"
    r"incorrect|wrong|locked|required|the|a|an|sent|set|reset|changed|working|accepted|rejected)\b)"
    r"([^\s.,;]+)"
)
# "Authorization: Bearer eyJ...", JSON web tokens, well-known key formats and long random-looking strings.
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{12,})")
_KEY_LIKE = re.compile(
    r"(?<![\w/\\.-])(?:eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}|(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|"
    r"gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|"
    # Long mixed-case strings with digits; not underscore_joined job or system names.
    r"(?=[A-Za-z0-9+/=-]{24,})(?=[^\s]*\d)(?=[^\s]*[a-z])(?=[^\s]*[A-Z])[A-Za-z0-9+/=-]{24,})"
    r"(?![\w/\\-]|\.\w)"
)
# Host names: UNC paths, FQDNs (three labels or more, or two with a well-known top-level domain, never a file
# name), and a name with a digit after "server / host / pc ... ".
_UNC = re.compile(r"(\\\\)([A-Za-z0-9][A-Za-z0-9_.-]*)")
_FILE_ENDINGS = frozenset(
    """exe dll sys msi msp bat cmd ps1 vbs js py sh txt log csv tsv xml json yml yaml ini cfg conf pdf doc
    docx xls xlsx xlsm ppt pptx pst ost zip rar 7z gz tar jpg jpeg png gif bmp tif tiff mp3 mp4 avi mov wav
    htm html
    aspx php jsp jar war iso img vmdk vhd vhdx bak tmp dat db mdb accdb sql lnk url rdp ica""".split()
)
_TLDS = frozenset(
    """com net org edu gov mil int io local lan corp internal intra intranet home ad dom co biz info de uk fr
    nl
    be ch at it es us ca au in cn jp eu""".split()
)
_FQDN = re.compile(
    r"(?<![\w.@/\\-])((?:[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w@-]|\.\w)"
)
_HOST_CONTEXT = re.compile(
    r"(?i)\b((?:server|host|hostname|host name|machine|computer(?: name)?|workstation|laptop|desktop|pc|"
    r"device|node|vm|dc|domain controller|printer|asset(?: tag)?)(?:\s+name)?\s*(?:[:=#-]|\bis\b|\bof\b|"
    r"\bcalled\b|\bnamed\b)?\s*)(?![\[(])"
    r"((?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z][A-Za-z0-9_-]{2,})\b"
)
# Account names: DOMAIN\\user, user@host (not an e-mail address: those go first), the user folder of a path,
# and a name after "user id / login / username / account".
_DOMAIN_USER = re.compile(
    r"(?<![\w\\:/.$-])([A-Za-z][A-Za-z0-9-]{1,14})\\([A-Za-z0-9](?:[A-Za-z0-9._$-]*[A-Za-z0-9$])?)"
)
_USER_AT_HOST = re.compile(r"(?<![\w.\]-])[A-Za-z0-9][A-Za-z0-9._-]*@(?:[A-Za-z0-9-]+)(?:\.[A-Za-z0-9-]+)*\b")
_USER_FOLDER = re.compile(r"(?i)(\\(?:users|home|profiles?)\\|/(?:home|Users)/)([^\\/\s]+)")
_USER_CONTEXT = re.compile(
    r"(?i)\b((?:user(?:\s|-|_)?id|user(?:\s|-|_)?name|login(?: name| id)?|logon(?: name)?|account(?: name)?|"
    r"samaccountname|uid|windows id|network id|ad account)\s*(?:[:=#]|-{1,2}|\bis\b)\s*)"
    r"(?![\[(])"
    r"(?!(?:not|now|locked|disabled|expired|being|still|the|a|an|and|issue|problem|failed|screen|page)\b)"
    r"([A-Za-z0-9][A-Za-z0-9._$-]{1,}[A-Za-z0-9$])"
)
# A machine-like name (letters, then two digits or more) after "on / from / to ...": "restarted the spooler on
# fileserver02". Product and version names of that shape are not hosts.
_HOST_AFTER = re.compile(
    r"(?i)\b((?:on|from|to|at|via|onto|into|against|with)\s+)"
    r"((?=[A-Za-z][A-Za-z_-]*\d{2})[A-Za-z][A-Za-z_-]{2,}\d{2,}[A-Za-z0-9_-]*)\b"
)
_NOT_HOST_PREFIXES = (
    "windows", "win", "office", "kb", "sid", "ipv", "iphone", "ipad", "ios", "android", "sql", "server",
    "error",
    "code", "http", "port", "com", "lpt", "usb", "hdmi", "vga", "mp", "x", "w", "v", "tls", "ssl", "ie", "o",
    "exchange", "visio", "project", "teams", "grp", "group", "inc", "req", "chg", "prb", "kba", "ticket",
)
_NOT_HOSTS = frozenset({"asp.net", "vb.net", "e.g", "i.e", "node.js", "vue.js"})


def _fqdn(match: re.Match[str]) -> str:
    name, tld = match.group(1), match.group(2).lower()
    labels = name.split(".")
    if name.lower() in _NOT_HOSTS or tld in _FILE_ENDINGS:
        return name
    if tld not in _TLDS and (len(labels) < 3 or len(tld) > 6):
        return name  # "Node.js", or a dotted code name such as system.web.ui.scriptmanager.onprerender
    if all(label.isdigit() for label in labels[:-1]):
        return name  # a version number with a suffix
    return HOST


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


def _host_after(match: re.Match[str]) -> str:
    name = match.group(2)
    prefix = re.match(r"[A-Za-z]+", name).group(0).lower()
    if prefix in _NOT_HOST_PREFIXES:
        return match.group(0)
    return f"{match.group(1)}{HOST}"


def _keep_label(placeholder: str):
    return lambda m: f"{m.group(1)}{m.group(2)}{placeholder}"


def _scrub_secrets(text: str, sub) -> str:
    """Passwords, tokens and keys (before e-mail addresses: "pwd=a@b.cd" is a password)."""
    text = sub(_SECRET_LABELLED, _keep_label(SECRET), text, "secret")
    text = sub(_NEW_SECRET, _keep_label(SECRET), text, "secret")
    text = sub(_SECRET, _keep_label(SECRET), text, "secret")
    text = sub(_BEARER, _keep_label(SECRET), text, "secret")
    return sub(_KEY_LIKE, SECRET, text, "secret")


def _scrub_hosts_and_users(text: str, sub) -> str:
    """Account and host names (after e-mail and IP addresses, which have their own placeholders)."""
    text = sub(_USER_FOLDER, lambda m: f"{m.group(1)}{USER}", text, "user")
    text = sub(_UNC, lambda m: f"{m.group(1)}{HOST}", text, "host")
    text = sub(_DOMAIN_USER, f"{USER}", text, "user")
    text = sub(_USER_AT_HOST, f"{USER}@{HOST}", text, "user")
    text = sub(_USER_CONTEXT, lambda m: f"{m.group(1)}{USER}", text, "user")
    text = sub(_FQDN, _fqdn, text, "host")
    text = sub(_HOST_CONTEXT, lambda m: f"{m.group(1)}{HOST}", text, "host")
    return sub(_HOST_AFTER, _host_after, text, "host")


def scrub_report(
    text: str | None, *, names: Iterable[str] = (), ip: bool = True, secrets: bool = True
) -> ScrubResult:
    """Scrub personal data (and, with ``secrets``, passwords, keys, host and account names); report it."""
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
    if secrets:
        text = _scrub_secrets(text, sub)
    else:
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
    if secrets:  # after names: "User Name: Kowalski, Jan" is a person, "user name: jk0815" an account
        text = _scrub_hosts_and_users(text, sub)
    return ScrubResult(text, counts, sorted(set(found)))


def scrub(text: str | None, *, names: Iterable[str] = (), ip: bool = True, secrets: bool = True) -> str:
    """Return text with e-mails, phones, IPs, credentials, hosts, accounts and person names replaced."""
    return scrub_report(text, names=names, ip=ip, secrets=secrets).text


def contains_pii(text: str | None) -> bool:
    """True when scrubbing would change the text."""
    return bool(text) and scrub(text) != text
