"""Tokens of ticket and article text, shared by BM25 retrieval and drafting's sentence similarity.

The tokenizer lower-cases, splits on unicode word characters, drops stop words and one-letter tokens, and
applies a light English suffix stemmer (plural, -ed, -ing), all offline.
"""

from __future__ import annotations

import re
from collections.abc import Collection

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves im ive id dont doesnt didnt cant cannot wont isnt arent wasnt also get got
    please thanks thank hi hello dear regards""".split()
)

_WORD = re.compile(r"\w+", re.UNICODE)
_VOWEL = re.compile(r"[aeiouy]")


def light_stem(word: str) -> str:
    """Strip common English inflections (plural, -ed, -ing) so that variants share one token."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix):
            stem = word[: -len(suffix)]
            if len(stem) >= 3 and _VOWEL.search(stem):
                word = stem
                if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                    word = word[:-1]  # stopped -> stop, running -> run
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]  # update / updated / updating / updates -> updat
    return word


def tokenize(text: str | None, *, stopwords: Collection[str] = STOPWORDS, stem: bool = True) -> list[str]:
    """Lower-case, split into unicode word tokens, drop stop words and one-letter tokens, stem."""
    if not text:
        return []
    tokens = []
    for tok in _WORD.findall(text.casefold()):
        tok = tok.strip("_")
        if len(tok) < 2 or tok in stopwords:
            continue
        tokens.append(light_stem(tok) if stem else tok)
    return tokens
