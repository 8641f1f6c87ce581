"""All 93 real messages of ../shared/data/mail_samples go through intake without an error."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from itsm_ai.mail.enums import IntakeOutcome
from itsm_ai.mail.flows import take_in

pytestmark = [pytest.mark.usefixtures("installed"), pytest.mark.slow]


def samples(shared_data: Path) -> list[Path]:
    folder = shared_data / "mail_samples"
    if not folder.is_dir():
        pytest.skip("mail_samples not found")
    return sorted(folder.glob("*.eml"))


def run_all(files: list[Path]) -> dict[str, object]:
    return {f.name: take_in(f.read_bytes(), source="file") for f in files}


@pytest.mark.parametrize("bulk_tickets", [False, True])
def test_every_sample_is_a_ticket_a_comment_or_ignored_with_its_reason(
    shared_data, monkeypatch, mail_settings, bulk_tickets
):
    monkeypatch.setattr(mail_settings, "mail_rate_limit_count", 1000)
    monkeypatch.setattr(mail_settings, "mail_bulk_creates_tickets", bulk_tickets)
    files = samples(shared_data)
    assert len(files) == 93
    results = run_all(files)
    failures = {n: r.reason for n, r in results.items() if r.outcome == IntakeOutcome.dead_letter}
    assert failures == {}, failures
    allowed = {IntakeOutcome.ticket, IntakeOutcome.comment, IntakeOutcome.ignored}
    assert {r.outcome for r in results.values()} <= allowed
    for name, result in results.items():
        shape = name.split("-", 1)[1]
        if result.outcome == IntakeOutcome.ignored:
            assert result.reason, name
        if shape.startswith("bounce"):
            assert result.outcome == IntakeOutcome.ignored, (name, result)
            assert result.reason.startswith("bounce"), (name, result)
        if shape.startswith(("autoreply", "readreceipt")):
            assert result.outcome == IntakeOutcome.ignored, (name, result)
        if shape.startswith(("plain", "reply", "forward", "html", "attachment", "iso2022jp", "shiftjis")):
            if not result.reason or not result.reason.startswith("bulk"):
                assert result.outcome in (IntakeOutcome.ticket, IntakeOutcome.comment), (name, result)
    counts = collections.Counter(r.outcome for r in results.values())
    if bulk_tickets:
        # Mailing-list replies whose parent is in the folder thread onto the parent's ticket.
        assert counts[IntakeOutcome.comment] >= 3
        assert results["spamassassin-thread-003.eml"].number == results["spamassassin-thread-001.eml"].number
    assert counts[IntakeOutcome.ticket] + counts[IntakeOutcome.comment] >= (60 if bulk_tickets else 40)
    # Taking the same messages in again creates nothing: every one is recognised by its Message-ID.
    again = run_all(files)
    assert {r.outcome for r in again.values()} == {IntakeOutcome.duplicate}
