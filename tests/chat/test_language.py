"""Which messages are in a language the detector's examples do not cover (they go to the problem flow)."""

from __future__ import annotations

import pytest

from itsm_ai.chat import language
from itsm_ai.chat.language import uncovered_language

COVERED = ("en", "de")


@pytest.mark.parametrize(
    "text",
    [
        "my excel keeps freezing when I open pivot tables",
        "lable drucker funktioniert nicht",
        "kann mich nicht anmelden",
        "vpn",
        "INC0001234",
        "12345 67",
        "!!!",
        "",
    ],
)
def test_covered_or_unknowable_messages_are_not_flagged(text):
    assert uncovered_language(text, COVERED) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("打印机坏了，无法打印", "zh"),
        ("принтер не работает уже второй день", "ru"),
        ("mon imprimante ne fonctionne plus depuis ce matin", "fr"),
        ("drukarka nie drukuje od wczoraj", "pl"),
    ],
)
def test_other_languages_are_flagged(text, code):
    assert uncovered_language(text, COVERED) == code


def test_covering_the_language_unflags_it():
    assert uncovered_language("mon imprimante ne fonctionne plus depuis ce matin", ("en", "de", "fr")) is None


def test_without_the_identifier_only_the_script_counts(monkeypatch):
    monkeypatch.setattr(language, "_identify", lambda text: ())
    assert uncovered_language("打印机坏了", COVERED) == "und"
    assert uncovered_language("mon imprimante ne fonctionne plus", COVERED) is None
