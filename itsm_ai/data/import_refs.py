"""References of imported rows: what is already stored, and the people, groups, records and assets rows point
at (see `itsm_ai.data.importer`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.asset.models import Asset
from itsm_ai.auth.models import User
from itsm_ai.base.roles import Role
from itsm_ai.data.import_report import ImportReport, RowProblem
from itsm_ai.data.import_rows import Candidate
from itsm_ai.group.models import Group
from itsm_ai.records.spec import RecordSpec

# User references that are created when missing, with the role a new user gets.
USER_REF_ROLES = {"caller": Role.requester, "assigned_to": Role.agent}
GROUP_REFS = ("assignment_group",)
USERNAME_MAX = User.__table__.c.username.type.length
GROUP_NAME_MAX = Group.__table__.c.name.type.length


def chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stored_values(db_session: Session, column, values: Iterable[str]) -> set[str]:
    """Those of the values that the column already holds."""
    # A table without any correlation id (a first import) needs no lookups: one indexed probe says so.
    if db_session.execute(select(column).where(column.isnot(None)).limit(1)).first() is None:
        return set()
    found: set[str] = set()
    distinct = sorted(set(values))
    for chunk in chunks(distinct):
        found.update(db_session.scalars(select(column).where(column.in_(chunk))))
    return found


def lookup_ids(db_session: Session, model, key: str, values: Iterable[str]) -> dict[str, int]:
    """The ids of the stored rows whose `key` is one of the values, by value."""
    out: dict[str, int] = {}
    column = getattr(model, key)
    for chunk in chunks(sorted(set(values))):
        out.update(dict(db_session.execute(select(column, model.id).where(column.in_(chunk))).all()))
    return out


@dataclass
class Refs:
    """Resolved references by value (ids), and the users and groups still to create."""

    users: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    records: dict[str, dict[str, int]] = field(default_factory=dict)
    assets: dict[str, int] = field(default_factory=dict)
    new_users: dict[str, Role] = field(default_factory=dict)
    new_groups: dict[str, None] = field(default_factory=dict)


def check_refs(
    db_session: Session,
    spec: RecordSpec,
    candidates: list[Candidate],
    models: list[BaseModel],
    report: ImportReport,
) -> tuple[list[Candidate], list[BaseModel], Refs]:
    """Resolve references: people and groups are looked up (missing ones are created), records must exist."""
    refs = Refs()
    problems: list[RowProblem] = []
    # Column-wise: one list of values per reference field, one lookup per distinct value.
    columns = {name: [getattr(m, name) for m in models] for name in spec.refs}
    people = [n for n in USER_REF_ROLES if n in columns]
    usernames = {v for n in people for v in columns[n] if v}
    refs.users = lookup_ids(db_session, User, "username", usernames)
    groups = [n for n in GROUP_REFS if n in columns]
    group_names = {v for n in groups for v in columns[n] if v}
    refs.groups = lookup_ids(db_session, Group, "name", group_names)
    for name in people:
        role = USER_REF_ROLES[name]
        for k, value in enumerate(columns[name]):
            if value and value not in refs.users:
                if len(value) > USERNAME_MAX:
                    problems.append(
                        RowProblem(candidates[k].line, name, f"longer than {USERNAME_MAX} characters")
                    )
                elif role == Role.agent or value not in refs.new_users:
                    refs.new_users[value] = role
    for name in groups:
        for k, value in enumerate(columns[name]):
            if value and value not in refs.groups:
                if len(value) > GROUP_NAME_MAX:
                    problems.append(
                        RowProblem(candidates[k].line, name, f"longer than {GROUP_NAME_MAX} characters")
                    )
                else:
                    refs.new_groups[value] = None
    for name, ref in spec.refs.items():
        if name in USER_REF_ROLES or name in GROUP_REFS:
            continue
        wanted = {v for v in columns[name] if v}
        found = refs.records[name] = lookup_ids(db_session, ref.target, ref.key, wanted) if wanted else {}
        for k, value in enumerate(columns[name]):
            if value and value not in found:
                problems.append(RowProblem(candidates[k].line, name, f"no {ref.noun} {value!r}"))
    if "configuration_items" in type(models[0]).model_fields if models else False:
        cis = [m.configuration_items for m in models]
        wanted_assets = {a for names in cis for a in names}
        if wanted_assets:
            refs.assets = lookup_ids(db_session, Asset, "name", wanted_assets)
            missing = wanted_assets - set(refs.assets)
            if missing:
                refs.assets.update(lookup_ids(db_session, Asset, "number", missing))
            for k, names in enumerate(cis):
                for asset in names:
                    if asset not in refs.assets:
                        problems.append(
                            RowProblem(candidates[k].line, "configuration_items", f"no asset {asset!r}")
                        )
    if not problems:
        return candidates, models, refs
    report.bad.extend(problems)
    bad_lines = {p.line for p in problems}
    keep = [k for k, c in enumerate(candidates) if c.line not in bad_lines]
    return [candidates[k] for k in keep], [models[k] for k in keep], refs
