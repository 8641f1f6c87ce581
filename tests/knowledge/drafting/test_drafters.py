"""Extractive and generative drafting; the generative path runs against a real local HTTP server."""

from __future__ import annotations

import json
import re

import pytest

from itsm_ai.knowledge.drafting.extractive import Draft, ExtractiveDrafter
from itsm_ai.knowledge.drafting.generative import DraftParseError, GenerativeDrafter, parse_draft_answer
from itsm_ai.knowledge.drafting.pii import contains_pii
from itsm_ai.knowledge.drafting.text import html_to_text, split_units

PII = re.compile(r"Alice|Martin|Bob|Jones|Carol|White|Dan Brown|@example\.com|7946")


def all_text(draft: Draft) -> str:
    return "\n".join([draft.title, draft.symptoms, draft.cause or "", *draft.resolution_steps])


def test_html_to_text_and_units():
    html = (
        "<p>Open <b>Settings</b> &amp; then:</p><pre><code>sudo apt update\n</code></pre>"
        "<ul><li>Reboot.</li></ul>"
    )
    assert html_to_text(html) == "Open Settings & then:\n```\nsudo apt update\n```\nReboot."
    assert split_units(html) == ["Open Settings & then: `sudo apt update`", "Reboot."]
    assert split_units("First do this. Then that! 1. numbered\n- bullet") == [
        "First do this.",
        "Then that!",
        "1. numbered",
        "bullet",
    ]


def test_extractive_draft_is_grounded_and_pii_free(printer_tickets):
    draft = ExtractiveDrafter().draft(printer_tickets)
    assert draft.method == "extractive"
    assert draft.title and draft.symptoms and draft.resolution_steps
    assert draft.source_numbers == ["INC0010001", "INC0010002", "INC0010003", "INC0010004"]
    text = all_text(draft)
    assert not PII.search(text), text
    assert not contains_pii(text)
    assert "<" not in text  # HTML stripped
    assert any("spooler" in step.lower() for step in draft.resolution_steps)
    assert draft.cause and "spooler" in draft.cause.lower()
    assert 0.5 <= draft.coverage <= 1.0 and 0.0 < draft.confidence <= 1.0
    # Near-duplicate steps ("Restarted the print spooler service") appear once.
    restarts = [s for s in draft.resolution_steps if "restarted the print spooler" in s.lower()]
    assert len(restarts) == 1
    assert "# " in draft.to_markdown() and json.dumps(draft.to_dict())


def test_extractive_single_ticket_and_bad_input():
    draft = ExtractiveDrafter().draft(
        [
            {
                "number": "INC1",
                "short_description": "VPN fails",
                "description": "VPN fails with error 809.",
                "resolution_notes": "Opened UDP port 500 and 4500 on the home router. VPN connects again.",
            }
        ]
    )
    assert draft.source_numbers == ["INC1"] and draft.resolution_steps
    with pytest.raises(ValueError, match="non-empty"):
        ExtractiveDrafter().draft([])
    with pytest.raises(ValueError, match=r"tickets\[1\]"):
        ExtractiveDrafter().draft([{"number": "1"}, "oops"])


def test_extractive_on_real_askubuntu_answers(shared_data):
    items = json.loads((shared_data / "askubuntu_qa_intents.json").read_text())["sentences"]
    tickets = [
        {
            "number": it["url"].split("/")[4],
            "short_description": it["text"],
            "description": it["text"],
            "resolution_notes": it["answer"]["text"],
        }
        for it in items
        if it["intent"] == "Shutdown Computer" and it.get("answer")
    ][:8]
    draft = ExtractiveDrafter().draft(tickets)
    assert draft.resolution_steps and len(draft.source_numbers) == len(tickets)
    assert not any("<p>" in s or "</" in s for s in draft.resolution_steps)
    assert any("shutdown" in s.lower() or "poweroff" in s.lower() for s in draft.resolution_steps)


CANNED = {
    "title": "Print jobs stuck in the queue",
    "symptoms": "Jobs wait in the queue and nothing prints; reported by Alice Martin.",
    "cause": "A hung print spooler service.",
    "resolution_steps": [
        "1. Restart the Print Spooler service.",
        "2. Clear the stuck jobs from the queue.",
        "3. Update the printer driver.",
    ],
}


def test_parse_draft_answer_tolerates_fences_and_rejects_junk():
    fenced = "Here you go:\n```json\n" + json.dumps(CANNED) + "\n```"
    fields = parse_draft_answer(fenced)
    assert fields["resolution_steps"][0] == "Restart the Print Spooler service."
    assert "Alice" not in fields["symptoms"] and "[name]" in fields["symptoms"]
    for junk in (
        "no json here",
        "{not json}",
        '{"title": "", "resolution_steps": ["x"]}',
        '{"title": "t", "resolution_steps": []}',
        '{"title": "t", "resolution_steps": [1, 2]}',
    ):
        with pytest.raises(DraftParseError):
            parse_draft_answer(junk)


def test_generative_against_local_server(llm_server, printer_tickets):
    llm_server.content = json.dumps(CANNED)
    drafter = GenerativeDrafter(llm_server.url, api_key="test-key", model="local-model", timeout=5)
    draft = drafter.draft(printer_tickets)
    assert draft.method == "generative" and draft.title == "Print jobs stuck in the queue"
    assert draft.resolution_steps == [
        "Restart the Print Spooler service.",
        "Clear the stuck jobs from the queue.",
        "Update the printer driver.",
    ]
    assert draft.source_numbers[0] == "INC0010001" and draft.coverage > 0.5
    assert not PII.search(all_text(draft))
    (request,) = llm_server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer test-key"
    assert request["body"]["model"] == "local-model"
    sent = json.dumps(request["body"])
    assert not PII.search(sent), "personal data must not leave the service"
    assert "spooler" in sent


@pytest.mark.parametrize("mode", ["500", "junk", "slow"])
def test_generative_falls_back(llm_server, printer_tickets, mode):
    llm_server.mode = mode
    llm_server.delay = 1.0
    llm_server.content = json.dumps(CANNED)
    drafter = GenerativeDrafter(llm_server.url + "/v1", model="m", timeout=0.3)
    draft = drafter.draft(printer_tickets)
    assert draft.method == "extractive" and draft.resolution_steps
    expected = {"500": "HTTP 500", "junk": "unusable", "slow": "timed out"}[mode]
    assert expected in draft.notes[0]
    assert llm_server.requests[0]["path"] == "/v1/chat/completions"


def test_generative_not_configured_or_unreachable(printer_tickets):
    assert GenerativeDrafter().draft(printer_tickets).notes[0] == "generative drafter not configured"
    # A closed port on loopback: connection refused.
    draft = GenerativeDrafter("http://127.0.0.1:9", model="m", timeout=1).draft(printer_tickets)
    assert draft.method == "extractive" and "unreachable" in draft.notes[0]
