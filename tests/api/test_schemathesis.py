"""schemathesis over the whole OpenAPI document: generated requests as an admin and as an agent never answer a
server error, and every answer matches the schema declared for its status (issue 13, defect 3).

Bounded (a few examples per operation) so the module takes about two minutes on SQLite; runs on PostgreSQL in
the -m db pass, where 32-bit columns and NUL characters in text refuse what SQLite stores.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import _sign_in_everyone, make_app
from tests.conftest import clean_database

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 10
ROLES = ("admin", "agent")
CASES: Counter = Counter()


# Built at import: schemathesis reads the operations at collection (its from_fixture loader does not work
# with this pytest). The database behind it is prepared by the module fixture below.
APP = make_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# The coverage phase enumerates every boundary of every parameter (18,000 calls, 7 minutes here): the bounded
# fuzzing phase, positive and negative, with NUL characters allowed, keeps the module near two minutes.
schema.config.phases.coverage.enabled = False
schema.config.generation.update(max_examples=MAX_EXAMPLES, allow_x00=True, no_shrink=True)
schema.config.update(request_timeout=120)  # a first chat message trains the intent detector


@pytest.fixture(scope="module")
def fuzzed_app(engine, tmp_path_factory):
    """The app over an empty database with a ticket of each kind for the generated references."""
    from fastapi.testclient import TestClient

    from itsm_ai.config import get_settings
    from itsm_ai.knowledge.retrieval.service import reset_service

    settings = get_settings()
    patched = {
        "knowledge_encoder": "hash",
        "knowledge_warm_on_startup": False,
        "knowledge_index_dir": tmp_path_factory.mktemp("index"),
        "chat_intent_embeddings": False,
        "chat_train_bundled_tickets": False,
    }
    saved = {name: getattr(settings, name) for name in patched}
    for name, value in patched.items():
        setattr(settings, name, value)
    reset_service()
    clean_database(engine)
    APP.state.users = _sign_in_everyone()
    with TestClient(APP) as client:
        headers = APP.state.users["agent"].headers
        for path in ("incidents", "problems", "changes", "requests"):
            client.post(f"/api/v1/{path}", json={"short_description": "Mail is down"}, headers=headers)
    yield APP
    print(f"\nschemathesis: {sum(CASES.values())} calls by status {dict(sorted(CASES.items()))}")
    clean_database(engine)
    for name, value in saved.items():
        setattr(settings, name, value)
    reset_service()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_answers_match_their_schema(case, fuzzed_app):
    for role in ROLES:
        headers = {**(case.headers or {}), **fuzzed_app.state.users[role].headers}
        response = case.call_and_validate(
            headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )
        CASES[response.status_code] += 1
