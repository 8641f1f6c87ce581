"""Collapsing confirmed duplicates onto their masters in a ranked hit list (pure: no database, no index).

A confirmed duplicate is an agent's label: the master is where the fix and the discussion live. A search hit
that is a known duplicate is replaced by its master (following chains ``a -> b -> c``, cycle-safe), each
master is listed once at the first position any of its duplicates (or itself) reached, with the best score
among them and the duplicates it was reached through (the evidence). A master the caller excludes (the query
itself) drops the hit; a master that does not pass the search's filter (still open when the search wants
resolved records, not indexed) gives way to the nearest record on the chain that does, the hit itself at
worst.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

MasterOf = Callable[[int], int | None]


@dataclass(frozen=True, slots=True)
class Collapsed:
    """One listed record: its key, best score, the duplicates it was reached through, its input positions."""

    key: int
    score: float
    via: tuple[int, ...] = ()
    positions: tuple[int, ...] = ()


def chain(key: int, master_of: MasterOf) -> list[int]:
    """The key and its masters in order (``key, master, master's master, ...``).

    Cycle-safe: links that loop back (the store refuses them, an index may lag behind) end at the loop's
    smallest key, so every record on the loop stands for the same one."""
    out = [key]
    seen = {key}
    nxt = master_of(key)
    while nxt is not None and nxt not in seen:
        out.append(nxt)
        seen.add(nxt)
        nxt = master_of(nxt)
    if nxt is not None:
        end = min(out[out.index(nxt) :])
        out = out[: out.index(end) + 1]
    return out


def target_of(
    key: int,
    master_of: MasterOf,
    *,
    allow: Callable[[int], bool] | None = None,
    exclude: Collection[int] = (),
) -> int | None:
    """What a hit stands for: its furthest master passing ``allow``, else itself; None when the chain's
    end is excluded (a duplicate of the query is the query's own thread, not a result)."""
    links = chain(key, master_of)
    if links[-1] in exclude:
        return None
    for candidate in reversed(links[1:]):
        if candidate not in exclude and (allow is None or allow(candidate)):
            return candidate
    return key


def collapse(
    hits: Sequence[tuple[int, float]],
    master_of: MasterOf,
    *,
    allow: Callable[[int], bool] | None = None,
    exclude: Collection[int] = (),
    limit: int | None = None,
) -> list[Collapsed]:
    """Hits (key, score; best first) with duplicates replaced by their masters, each record once, in order.

    ``limit``: stop at the first hit that would list one record more (the rest could only add evidence)."""
    order: list[int] = []
    best: dict[int, float] = {}
    via: dict[int, list[int]] = {}
    positions: dict[int, list[int]] = {}
    for position, (key, score) in enumerate(hits):
        target = target_of(key, master_of, allow=allow, exclude=exclude)
        if target is None:
            continue
        if target not in best:
            if limit is not None and len(order) >= limit:
                break
            order.append(target)
            best[target], via[target], positions[target] = score, [], []
        else:
            best[target] = max(best[target], score)
        if key != target and key not in via[target]:
            via[target].append(key)
        positions[target].append(position)
    return [Collapsed(t, best[t], tuple(via[t]), tuple(positions[t])) for t in order]


def payload_master(payload_of: Callable[[int], dict | None]) -> MasterOf:
    """``master_of`` reading the ``duplicate_of`` key of index payloads."""

    def master_of(key: int) -> int | None:
        payload = payload_of(key)
        master = payload.get("duplicate_of") if payload else None
        return int(master) if master is not None else None

    return master_of


def payload_allow(
    payload_of: Callable[[int], dict | None], predicate: Callable[[dict], bool] | None
) -> Callable[[int], bool]:
    """``allow`` for a search's filter: the master is indexed and its payload passes ``predicate``."""

    def allow(key: int) -> bool:
        payload = payload_of(key)
        return payload is not None and (predicate is None or predicate(payload))

    return allow


def collapse_indexed(
    hits: Sequence[tuple[int, float]],
    payload_of: Callable[[int], dict | None],
    predicate: Callable[[dict], bool] | None = None,
    *,
    exclude: Collection[int] = (),
    limit: int | None = None,
) -> list[Collapsed]:
    """`collapse` over an index: the links are the payloads' ``duplicate_of``, a master must be indexed and
    pass the search's ``predicate``."""
    return collapse(
        hits,
        payload_master(payload_of),
        allow=payload_allow(payload_of, predicate),
        exclude=exclude,
        limit=limit,
    )
