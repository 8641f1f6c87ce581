"""The API tests' fixtures for the report endpoints: app (no background worker), client, users and factory;
and `facts`, report facts written directly for the walks' tests."""

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import insert, select

from itsm_ai.reports.models import ReportTicket
from tests.api.conftest import app, client, make, users  # noqa: F401

FACTS = ReportTicket.__table__
START = datetime(2026, 1, 1, tzinfo=UTC)
T0 = int(START.timestamp())
DAY = 86_400
RANGE = {"start": "2026-01-01", "end": "2026-06-30"}
NOW = datetime(2026, 7, 1, tzinfo=UTC)


def _facts(group_ids: list[int], user_ids: list[int], n: int = 700) -> list[dict]:
    """n incidents over January-April (none resolved in May: an empty period), with NULL groups, assignees,
    resolutions, responses and business seconds mixed in."""
    rng = np.random.default_rng(11)
    rows = []
    for i in range(n):
        opened = T0 + int(rng.integers(0, 90 * DAY))
        resolved = opened + int(rng.integers(0, 20 * DAY)) if rng.random() < 0.8 else None
        if resolved is not None and resolved >= T0 + 120 * DAY:
            resolved = None
        responded = opened + int(rng.integers(0, 2 * DAY)) if rng.random() < 0.9 else None
        rows.append(
            {
                "record_type": "incident",
                "opened_at": opened,
                "record_id": i + 1,
                "state": "resolved" if resolved else "in_progress",
                "priority": int(rng.integers(1, 5)),
                "category": None,
                "assignment_group_id": [None, *group_ids][int(rng.integers(0, 1 + len(group_ids)))],
                "assigned_to_id": [None, *user_ids][int(rng.integers(0, 1 + len(user_ids)))],
                "resolved_at": resolved,
                "ended_at": resolved,
                "first_response_at": responded,
                "resolve_business_seconds": int(rng.integers(0, DAY))
                if resolved and rng.random() < 0.7
                else None,
                "response_business_seconds": int(rng.integers(0, 3600))
                if responded and rng.random() < 0.5
                else None,
                "reassignment_count": int(rng.integers(0, 3)),
                "reopen_count": int(rng.integers(0, 2)),
            }
        )
    return rows


@pytest.fixture
def facts(db, users):  # noqa: F811
    """The facts in the database (groups and users real rows); yields them."""
    from itsm_ai import database
    from itsm_ai.auth.models import User
    from itsm_ai.group.models import Group

    with database.get_session() as session:
        groups = [Group(name=f"walk-group-{i}") for i in range(3)]
        session.add_all(groups)
        session.flush()
        group_ids = [g.id for g in groups]
        user_ids = list(session.scalars(select(User.id).order_by(User.id)))[:4]
        rows = _facts(group_ids, user_ids)
        session.execute(insert(FACTS), rows)
    return rows
