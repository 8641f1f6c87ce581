"""Quoted history and signatures are stripped from replies (mail-parser-reply plus RFC 3676 quote lines)."""

from __future__ import annotations

import pytest

from itsm_ai.mail.replies import latest_reply

OUTLOOK = """Restarting fixed it, thanks!

________________________________
From: Service desk <helpdesk@example.com>
Sent: Tuesday, December 1, 2026 10:00 AM
To: Alice <alice@example.com>
Subject: [INC0000001] New reply: Printer

Could you restart the printer?
"""
GMAIL = """Still broken after the restart.

On Tue, Dec 1, 2026 at 10:00 AM Service desk <helpdesk@example.com> wrote:
> Could you restart the printer?
>
> --
> The service desk
"""
BOTTOM_POSTED = """On 01/12/2026 10:00, Service desk wrote:
> Could you restart the printer?

Done, it prints again.
"""
SIGNED = """It works now.

--
Alice Example
Head of Printing, Example Corp
+1 555 0100
"""
ORIGINAL_MESSAGE = """Yes, go ahead.

-----Original Message-----
From: Service desk
Sent: Tuesday, December 01, 2026 10:00
Subject: RE: Access request

May we install the update?
"""
GERMAN = """Danke, geht wieder.

Am 01.12.2026 um 10:00 schrieb Service desk <helpdesk@example.com>:
> Bitte starten Sie neu.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (OUTLOOK, "Restarting fixed it, thanks!"),
        (GMAIL, "Still broken after the restart."),
        (BOTTOM_POSTED, "Done, it prints again."),
        (SIGNED, "It works now."),
        (ORIGINAL_MESSAGE, "Yes, go ahead."),
        (GERMAN, "Danke, geht wieder."),
    ],
)
def test_only_the_new_text_is_kept(text, expected):
    assert latest_reply(text) == expected


def test_a_mail_that_is_all_quote_keeps_its_text():
    assert latest_reply("> only a quote\n> nothing new") == "> only a quote\n> nothing new"


def test_empty():
    assert latest_reply("  \n") == ""
