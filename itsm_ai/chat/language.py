"""Which language a chat message is written in, as far as the intent detector needs to know: whether it is
one its examples cover. A message in another language must never be refused as out of scope (the models
cannot tell what it says), so the detector sends it to the problem flow instead.

Language identification is py3langid (langid.py's naive Bayes model over byte n-grams, 97 languages, shipped
inside the package; loaded lazily, about 3 s once per process). Without it, only the script is checked: a
message mostly in letters of a script none of the covered languages use (Han, Cyrillic, Arabic, ...) is not
covered.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

# The detector's examples are English and German, both written in Latin letters.
LATIN_LANGUAGES = frozenset({"en", "de", "fr", "es", "it", "pt", "nl", "pl", "cs", "sv", "da", "no", "fi"})
MIN_CONFIDENCE = 0.5  # the identified language's probability (normalised over 97 languages)
MAX_COVERED = 0.05  # at most this much probability left on the covered languages
NOT_A_LANGUAGE = "zxx"  # langid's label for ids, codes and numbers

_lock = threading.Lock()
_identifier: Any = None
_unavailable = False


def _get_identifier() -> Any:
    global _identifier, _unavailable
    if _identifier is not None or _unavailable:
        return _identifier
    with _lock:
        if _identifier is None and not _unavailable:
            try:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError:
                _unavailable = True
                return None
            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def warm_up() -> None:
    """Load the language identifier now (server startup), not on the first message that needs it."""
    _get_identifier()


def _script_share(text: str) -> tuple[int, float]:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0, 1.0
    latin = sum(1 for ch in letters if unicodedata.name(ch, "").startswith("LATIN"))
    return len(letters), latin / len(letters)


@lru_cache(maxsize=4096)
def _identify(text: str) -> tuple[tuple[str, float], ...]:
    identifier = _get_identifier()
    if identifier is None:
        return ()
    return tuple((lang, float(p)) for lang, p in identifier.rank(text)[:5])


def uncovered_language(text: str, covered: Sequence[str]) -> str | None:
    """The language of a message when it is clearly none of `covered` (ISO 639-1 code; "und" when only the
    script is known), else None (covered, or too short or mixed to tell)."""
    covered = frozenset(covered)
    n_letters, latin = _script_share(text)
    if n_letters == 0:
        return None
    ranked = _identify(text)
    if latin < 0.5 and not (covered - LATIN_LANGUAGES):
        return ranked[0][0] if ranked and ranked[0][0] not in covered else "und"
    if not ranked:
        return None
    top, p_top = ranked[0]
    if top in covered or top == NOT_A_LANGUAGE or p_top < MIN_CONFIDENCE:
        return None
    if sum(p for lang, p in ranked if lang in covered) >= MAX_COVERED:
        return None
    return top
