"""The retrieval service's BM25 side: the index, and the entries of unresolved tickets held back from it.

Every BM25 write makes the next hybrid search rebuild the index's statistics, and a new ticket is
unresolved: the on-create and chat searches (resolved records only) cannot return it. So an unresolved
ticket's entry waits until a search could return one of the waiting entries, or until more than
``LEXICAL_DEFER_MAX`` wait (the statistics stay close), and then they enter in one batch. Resolved tickets and
articles enter at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from itsm_ai.knowledge.retrieval.documents import RESOLVED_STATES, TICKET_TYPES, Doc
from itsm_ai.knowledge.retrieval.lexical import LexicalIndex

# Unresolved tickets wait at most this many before BM25 takes them in anyway (its statistics stay close).
LEXICAL_DEFER_MAX = 256

Predicate = Callable[[dict[str, Any]], bool]


class DeferredLexical:
    """A BM25 index and the unresolved tickets' entries waiting until a search could return them."""

    def __init__(self, index: LexicalIndex):
        self.index = index
        self.deferred: dict[int, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self.index) + len(self.deferred)

    def add(self, docs: Sequence[Doc]) -> None:
        """Add or replace documents: unresolved tickets wait, everything else enters the index now."""
        now: list[Doc] = []
        for doc in docs:
            if doc.payload["type"] in TICKET_TYPES and doc.payload["state"] not in RESOLVED_STATES:
                if doc.key in self.index:
                    self.index.remove(doc.key)
                self.deferred[doc.key] = doc.fields
            else:
                self.deferred.pop(doc.key, None)
                now.append(doc)
        if now:
            self.index.add_many([d.key for d in now], [d.fields for d in now])
        if len(self.deferred) > LEXICAL_DEFER_MAX:
            self.admit()

    def remove(self, key: int) -> None:
        """Drop a document, entered or waiting."""
        self.index.remove(key)
        self.deferred.pop(key, None)

    def admit(
        self,
        predicate: Predicate | None = None,
        payload_of: Callable[[int], dict[str, Any] | None] | None = None,
    ) -> None:
        """Add the waiting entries when a search with this predicate (None: any search) could return one.

        ``payload_of`` gives a key's current payload (the vector index's: a state change without a text change
        only updates it there).
        """
        if not self.deferred:
            return
        if predicate is not None and payload_of is not None and len(self.deferred) <= LEXICAL_DEFER_MAX:
            if not any(predicate(payload_of(key) or {}) for key in self.deferred):
                return
        deferred, self.deferred = self.deferred, {}
        self.index.add_many(list(deferred), list(deferred.values()))
