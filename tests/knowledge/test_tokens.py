"""The shared tokenizer: lower-casing, stop words, light stemming."""

from __future__ import annotations

from itsm_ai.knowledge.tokens import light_stem, tokenize


def test_tokenizer_lowercases_drops_stopwords_and_stems():
    assert tokenize("The Printers were NOT printing!") == ["printer", "print"]
    assert tokenize("Café résumé") == ["café", "résumé"]
    assert tokenize("STRASSE") == tokenize("straße")  # casefold
    assert tokenize("error 0x80070005 on KB5005565") == ["error", "0x80070005", "kb5005565"]
    assert tokenize("") == [] and tokenize(None) == []
    assert tokenize("running stopped", stem=False) == ["running", "stopped"]


def test_light_stem_merges_inflections():
    assert {light_stem(w) for w in ("update", "updated", "updates", "updating")} == {"updat"}
    assert light_stem("policies") == "policy"
    assert light_stem("stopped") == light_stem("stop") == "stop"
    assert light_stem("access") == "access" and light_stem("status") == "status"
