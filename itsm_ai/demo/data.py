"""What the demo is made of: the shipped Stack Exchange questions and answers, their readable categories and
groups, the demo's people, and the open tickets written for this project to show each AI feature.

Pure data and readers (no database): `load.py` writes it, `triage_models.py` trains on it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parent
QA_JSON = DEMO_DIR / "stackexchange_qa.json"
# Kept in the repository (not loaded as demo tickets): the chat's scope detector and benchmarks read them.
TOPICS_CSV = DEMO_DIR / "it_tickets_topics.csv"
SERVICENOW_CSV = DEMO_DIR / "servicenow_incident_event_log.csv"

# (site, intent) of a shipped question -> (category, assignment group): readable names a service desk uses.
INTENT_ROUTES: dict[tuple[str, str], tuple[str, str]] = {
    ("Ask Ubuntu", "Software Recommendation"): ("Software", "Desktop Support"),
    ("Ask Ubuntu", "Make Update"): ("Updates and upgrades", "Desktop Support"),
    ("Ask Ubuntu", "Shutdown Computer"): ("Power and shutdown", "Desktop Support"),
    ("Ask Ubuntu", "Setup Printer"): ("Printing", "Hardware Support"),
    ("Ask Ubuntu", "None"): ("General", "Service Desk"),
    ("Web Applications", "Find Alternative"): ("Web applications", "Web and Collaboration"),
    ("Web Applications", "Sync Accounts"): ("Web applications", "Web and Collaboration"),
    ("Web Applications", "Export Data"): ("Web applications", "Web and Collaboration"),
    ("Web Applications", "Download Video"): ("Web applications", "Web and Collaboration"),
    ("Web Applications", "Filter Spam"): ("Spam and junk mail", "Web and Collaboration"),
    ("Web Applications", "Delete Account"): ("Accounts and passwords", "Access Management"),
    ("Web Applications", "Change Password"): ("Accounts and passwords", "Access Management"),
    ("Web Applications", "None"): ("General", "Service Desk"),
}

# Colleagues who opened the demo tickets (written for this project; password-less, they cannot sign in).
REQUESTERS: tuple[tuple[str, str], ...] = (
    ("ben", "Ben Okafor"),
    ("chloe", "Chloe Martin"),
    ("dev", "Dev Patel"),
    ("emma", "Emma Lindqvist"),
    ("farid", "Farid Haddad"),
    ("grace", "Grace Kim"),
)
# Shipped answers also published as knowledge articles (ids of stackexchange_qa.json), with their keywords.
QA_ARTICLES: tuple[tuple[str, list[str]], ...] = (
    ("askubuntu-706252", ["printer", "network", "ubuntu"]),
    ("askubuntu-453823", ["upgrade", "release", "ubuntu"]),
    ("webapps-54811", ["spam", "gmail", "filter"]),
)
# Resolved Stack Exchange tickets whose caller is alice (by position in the shipped file): her history.
ALICE_RESOLVED = (3, 60, 130, 200)

# A cluster of resolved tickets no article covers yet (written for this project): the loader asks the drafting
# flow for its draft, which waits in review. Category "Email" keeps the request to exactly this cluster.
DRAFT_CLUSTER_CATEGORY = "Email"
DRAFT_CLUSTER: tuple[tuple[str, str, str, str], ...] = (
    (
        "demo-draft-outlook-1",
        "Outlook keeps asking for my password",
        "Since this morning Outlook pops up a password prompt every few minutes, even after I type the right "
        "password.",
        "The password had been changed yesterday and Windows still held the old one. Removed the Outlook "
        "entries under Control Panel > Credential Manager > Windows Credentials, restarted Outlook and "
        "signed in once with the new password. The prompt did not come back.",
    ),
    (
        "demo-draft-outlook-2",
        "Outlook password prompt keeps coming back",
        "Outlook asks for my password again and again. I changed my password on Monday.",
        "Old password cached by Windows. Deleted the saved Outlook and Office credentials in Credential "
        "Manager, restarted Outlook and entered the new password once: no more prompts.",
    ),
    (
        "demo-draft-outlook-3",
        "Outlook asks for password repeatedly after password change",
        "After the password change Outlook shows the sign-in window every time it syncs.",
        "Cleared the stored credentials for Outlook in Credential Manager (Windows Credentials), restarted "
        "Outlook, signed in with the new password. Also updated the password on the phone's mail app so "
        "the account is not locked again.",
    ),
    (
        "demo-draft-outlook-4",
        "Outlook keeps prompting for credentials",
        "Outlook keeps prompting me for my credentials and will not remember them.",
        "Credential Manager still held the previous password. Removed the Outlook entries, restarted Outlook "
        "and signed in once; the prompt stopped.",
    ),
)

# The conversation the chat ticket comes from: (role, text) in order (written for this project).
CHAT_KEY = "demo-open-vpn-chat"
CHAT_MESSAGES: tuple[tuple[str, str], ...] = (
    ("user", "my VPN connection drops every 10 minutes"),
    (
        "bot",
        "I found something that may help: 'VPN connects but internal sites do not open'. Did it solve it?",
    ),
    ("user", "No, open a ticket"),
)

# Open tickets that show each AI feature (written for this project). Fields: key, caller, title, description,
# minutes before the load when it was opened, impact, urgency, what it shows. The levels are what the caller
# and the desk would set, so the queue shows believable priorities (and breach risks) rather than one; the
# chat sets none (its ticket keeps the defaults).
SHOWCASE: tuple[tuple[str, str, str, str, int, int, int, str], ...] = (
    (
        "demo-open-printer",
        "alice",
        "How do I set up the office printer on my Ubuntu laptop?",
        "I moved to Ubuntu last week. The HP printer on the 3rd floor does not show up when I try to add a "
        "printer in Settings. How do I install it?",
        600,
        3,
        3,
        "a confident suggestion (Printing, Hardware Support)",
    ),
    (
        "demo-open-upgrade",
        "alice",
        "How do I upgrade Ubuntu to the new release?",
        "The update manager tells me a new Ubuntu release is available. How do I upgrade safely without "
        "losing my files?",
        420,
        3,
        3,
        "a confident suggestion (Updates and upgrades, Desktop Support)",
    ),
    (
        "demo-open-payslip",
        "alice",
        "My payslip shows the wrong tax code",
        "The November payslip in the HR portal has last year's tax code. Who can correct it before the "
        "December payroll run?",
        300,
        3,
        3,
        "an abstention with its reason: nothing like it was resolved before",
    ),
    (
        "demo-open-vpn",
        "ben",
        "VPN drops every 10 minutes",
        "Working from home, the VPN disconnects roughly every 10 minutes and I have to reconnect each time.",
        240,
        3,
        2,
        "the open ticket the next one duplicates",
    ),
    (
        "demo-open-vpn-chat",
        "alice",
        "my VPN connection drops every 10 minutes",
        "",  # opened from the chat: its description is the chat's (message, then transcript)
        200,
        3,
        2,
        "a likely duplicate, opened from the chat with its transcript",
    ),
    (
        "demo-open-mail-1",
        "chloe",
        "Cannot send e-mail: the mail server is not responding",
        "Outlook says the mail server is not responding and nothing leaves my outbox.",
        40,
        2,
        1,
        "a major-incident candidate (five similar tickets within the hour)",
    ),
    (
        "demo-open-mail-2",
        "dev",
        "E-mail not sending, mail server not responding",
        "My e-mails stay in the outbox; Outlook reports that the mail server is not responding.",
        35,
        2,
        1,
        "a major-incident candidate",
    ),
    (
        "demo-open-mail-3",
        "emma",
        "Mail server not responding, cannot send e-mails",
        "Since a few minutes I cannot send any e-mail, the mail server does not respond.",
        30,
        2,
        1,
        "a major-incident candidate",
    ),
    (
        "demo-open-mail-4",
        "farid",
        "Outlook cannot send mail: server not responding",
        "Sending fails in Outlook with 'the mail server is not responding'.",
        25,
        2,
        1,
        "a major-incident candidate",
    ),
    (
        "demo-open-mail-5",
        "grace",
        "E-mails stuck in outbox, mail server not responding",
        "Nothing gets sent from Outlook, it says the mail server is not responding.",
        20,
        2,
        1,
        "a major-incident candidate",
    ),
)


@lru_cache(maxsize=1)
def qa_document() -> dict[str, Any]:
    """The shipped Stack Exchange file (see README.md for its source and licence)."""
    return json.loads(QA_JSON.read_text(encoding="utf-8"))


def qa_items() -> list[dict[str, Any]]:
    """Each shipped question with its accepted answer, category and group."""
    out = []
    for item in qa_document()["items"]:
        category, group = INTENT_ROUTES[(item["site"], item["intent"])]
        out.append({**item, "category": category, "group": group})
    return out


def attribution(item: dict[str, Any]) -> str:
    """The attribution line CC BY-SA asks for: source, authors, licence."""
    return (
        f"Source: {item['url']} ({item['site']}, Stack Exchange), question by {item['question_author']}, "
        f"answer by {item['answer_author']}, licensed under {item['licence']} "
        "(https://creativecommons.org/licenses/by-sa/3.0/)."
    )
