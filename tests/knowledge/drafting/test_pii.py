"""Personal-data scrubbing on real-looking ticket text."""

from __future__ import annotations

import pytest

from itsm_ai.knowledge.drafting.pii import contains_pii, scrub, scrub_report

EMAIL_THREAD = """Hi John,

my laptop (MAC 00:1A:2B:3C:4D:5E, IP 10.20.30.40) can't reach https://admin:S3cret!@intranet.example.com/wiki.
Please call me on +44 20 7946 0958 or (555) 123-4567, or mail jane.doe@example.com.

Kind regards,
Jane Doe
Finance"""


def test_email_thread_is_scrubbed():
    report = scrub_report(EMAIL_THREAD)
    text = report.text
    for secret in (
        "John",
        "Jane",
        "Doe",
        "00:1A",
        "10.20.30.40",
        "admin",
        "S3cret",
        "7946",
        "123-4567",
        "jane.doe@",
    ):
        assert secret not in text, secret
    assert text.startswith("Hi [name],")
    assert "[mac]" in text and "[ip]" in text and "[email]" in text and "https://[secret]@intranet" in text
    assert text.count("[phone]") == 2 and text.rstrip().endswith("[name]\nFinance")
    assert report.counts["phone"] == 2 and report.counts["email"] == 1
    assert set(report.names) == {"John", "Jane Doe"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Caller: Maria Garcia\nShort description: Outlook crashes",
            "Caller: [name]\nShort description: Outlook crashes",
        ),
        ("Requested by: jdoe", "Requested by: [name]"),
        ("User Name: Kowalski, Jan", "User Name: [name]"),
        (
            "From: Peter Parker <peter@example.org>\nTo: Service Desk",
            "From: [name] <[email]>\nTo: Service Desk",
        ),
        (
            "Dear Mr. Smith, the fix is live. Smith agreed.",
            "Dear Mr. [name], the fix is live. [name] agreed.",
        ),
        ("My name is Ahmed Khan and VPN fails.", "My name is [name] and VPN fails."),
        ("Thanks,\nAnna", "Thanks,\n[name]"),
        ("Tel: 0049 89 12345678", "Tel: [phone]"),
        ("reach me at 555.123.4567", "reach me at [phone]"),
        ("new password is Winter2024! please change", "new password is [secret] please change"),
        ("Gateway fe80::1ff:fe23:4567:890a down", "Gateway [ip] down"),
    ],
)
def test_personal_data_forms(text, expected):
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Outlook crashes after KB5005565 on Windows 10.0.19041, error 0x80070005.",
        "Incident INC0012345 opened 2023-01-05 10:30, due 05/01/2023 12:30:45.",
        "Order 4500012345 for 2 monitors, cost centre 4711.",
        "Hi team, the VPN is down again.",
        "Thanks for the quick help!",
        "Best practice guide for the print server.",
        "Restart the Print Spooler service, then print a test page.",
        "Upgrading from 12.10 to 14.04\n\n16.04.1 is a point release; 12.04 13.10 14.04 all work.",
        "How do I change my password on ebay? The old password is expired.",
    ],
)
def test_ordinary_it_text_is_left_alone(text):
    assert scrub(text) == text and not contains_pii(text)


def test_known_names_are_replaced_everywhere():
    text = "Asked Bob Jones to test. Bob confirmed; jones laptop is fine."
    assert scrub(text, names=["Bob Jones"]) == "Asked [name] to test. [name] confirmed; jones laptop is fine."


def test_ip_can_be_kept_and_empty_input():
    assert scrub("ping 10.0.0.1 fails", ip=False) == "ping 10.0.0.1 fails"
    assert scrub("") == "" and scrub(None) == ""


def test_scrubbing_is_idempotent():
    once = scrub(EMAIL_THREAD)
    assert scrub(once) == once
