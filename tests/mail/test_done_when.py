"""The issue's acceptance story end to end, on real servers: dovecot (IMAP) in, aiosmtpd (SMTP relay) out.

A new user mails the desk's mailbox a problem with a screenshot, gets a mail back with the ticket number,
replies to that mail, sees the reply on the ticket with the screenshot attached, and is mailed the resolution.
"""

from __future__ import annotations

import pytest

from itsm_ai.mail.enums import IntakeOutcome
from itsm_ai.notification.flows import send_pending
from tests.api.conftest import API
from tests.mail.helpers import PNG, message
from tests.mail.test_servers import mailbox  # noqa: F401  (the dovecot fixture, emptied)

pytestmark = pytest.mark.usefixtures("installed")


def test_mail_in_number_back_reply_threads_resolution_mailed(mailbox, sink, client, users):  # noqa: F811
    from itsm_ai.mail.imap import poll_once

    # 1. A person the desk has never heard of mails a problem with a screenshot.
    mailbox.deliver(
        message(
            sender="Dana New <dana.new@example.org>",
            to="helpdesk@example.com",
            subject="Laptop screen flickers",
            body="Since this morning the screen flickers. Screenshot attached.",
            message_id="<story-1@example.org>",
            attachments=[("flicker.png", "image/png", PNG)],
        )
    )
    assert poll_once() == {IntakeOutcome.ticket: 1}

    # 2. The acknowledgement with the number goes out over SMTP, threaded on the person's mail.
    assert send_pending()["sent"] == 1
    [ack] = sink.wait_for(1)
    assert ack["To"] == "dana.new@example.org" and ack["In-Reply-To"] == "<story-1@example.org>"
    number = ack["Subject"].split("]")[0].lstrip("[")
    assert number.startswith("INC") and number in ack.get_content()

    # 3. They reply to that mail (their client quotes it) with a second screenshot.
    quoted = "\n".join(f"> {line}" for line in ack.get_content().splitlines())
    mailbox.deliver(
        message(
            sender="dana.new@example.org",
            subject=f"Re: {ack['Subject']}",
            body=f"It also happens on the docking station.\n\nOn Tue, Desk wrote:\n{quoted}\n",
            message_id="<story-2@example.org>",
            in_reply_to=ack["Message-ID"],
            references=f"<story-1@example.org> {ack['Message-ID']}",
            attachments=[("dock.png", "image/png", PNG)],
        )
    )
    assert poll_once() == {IntakeOutcome.comment: 1}

    # 4. The agent sees the reply (without the quote) and both screenshots on the ticket.
    agent = users["agent"].headers
    comments = client.get(f"{API}/incidents/{number}/comments", headers=agent).json()
    assert [c["body"] for c in comments] == ["It also happens on the docking station."]
    files = client.get(f"{API}/incidents/{number}/attachments", headers=agent).json()
    names = [f["filename"] for f in files]
    assert names.count("flicker.png") == 1 and names.count("dock.png") == 1
    dock = next(f for f in files if f["filename"] == "dock.png")
    assert dock["comment_id"] == comments[0]["id"]
    assert client.get(dock["url"], headers=agent).content == PNG

    # 5. Resolving it mails the resolution and how to reopen, in the same thread.
    ticket = client.get(f"{API}/incidents/{number}", headers=agent).json()
    r = client.patch(
        f"{API}/incidents/{number}",
        json={
            "version": ticket["version"],
            "state": "resolved",
            "resolution_code": "solved",
            "resolution_notes": "Updated the display driver.",
        },
        headers=agent,
    )
    assert r.status_code == 200, r.text
    assert send_pending()["sent"] == 1
    resolved = sink.wait_for(2)[1]
    assert resolved["To"] == "dana.new@example.org" and resolved["Subject"].startswith(f"[{number}] Resolved")
    text = resolved.get_content()
    assert "Updated the display driver." in text and "Reply to this mail" in text
    assert "<story-1@example.org>" in resolved["References"]
