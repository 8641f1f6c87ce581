"""Text clean-up of the detector's examples: mis-decoded UTF-8, description openings, usable ticket texts."""

from __future__ import annotations

import pytest

from itsm_ai.chat.text import first_description, is_usable, normalise, repair_mojibake


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("pc der maschine r45 fÃ¤hrt nicht mehr hoch.", "pc der maschine r45 fährt nicht mehr hoch."),
        ("probleme mit vpn stÃ¶hrmann", "probleme mit vpn stöhrmann"),
        # Chinese read as Windows-1252, with bytes that code page leaves undefined kept as Latin-1.
        ("ç”¨å\x8f‹å®šæœŸå¤‡ä»½ä¸\x8dæˆ\x90åŠŸ", "用友定期备份不成功"),
    ],
)
def test_mis_decoded_utf8_is_repaired(broken, fixed):
    assert repair_mojibake(broken) == fixed


@pytest.mark.parametrize("text", ["fährt nicht", "café»", "naïve", "plain ascii", "ÄÖÜ groß"])
def test_proper_text_is_left_alone(text):
    assert repair_mojibake(text) == text


def test_normalise_collapses_whitespace_and_repairs():
    assert normalise("  outlook \n\t stÃ¼rzt   ab ") == "outlook stürzt ab"


def test_first_description_drops_mail_headers_and_addresses():
    body = (
        "\n\nreceived from: someone.else@example.com\n\nhello team,\n\nmy meetings are not appearing in my "
        "outlook calendar, mail me at a.b@example.org\n\nSubject: calendar\nkind "
    )
    out = first_description(body)
    assert "received from" not in out and "@" not in out and "Subject" not in out
    assert out.startswith("hello team, my meetings are not appearing")


def test_first_description_cuts_at_a_word_boundary():
    out = first_description("word " * 200, max_chars=52)
    assert len(out) <= 52 and out.endswith("word")
    assert first_description(None) == "" and first_description("") == ""


@pytest.mark.parametrize(
    ("text", "usable"),
    [
        ("vpn", True),
        ("o drive missing in machine.", True),
        ("job Job_1854 failed in job_scheduler at: 10/27/2016 01:36:00", True),
        ("Symptom 72 (Category 55 / Subcategory 170)", False),
        ("INC0000045", False),
        ("12345", False),
        ("--", False),
    ],
)
def test_is_usable(text, usable):
    assert is_usable(text) is usable
