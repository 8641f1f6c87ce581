"""The reports dashboard in headless Chromium on real data: the bundled slice of the ServiceNow log plus
incidents triaged by a tiny category model whose suggestions agents accepted or overrode. Screenshots at 1280
and 375 px go to test-artifacts/screenshots/.

The slice rather than the full log: the app reconciles its retrieval index with the store when it starts, and
embedding 25,000 tickets on a CPU takes minutes (the full log's figures are checked in tests/reports)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import PASSWORD
from tests.ui.conftest import running
from tests.ui.test_e2e import _TOPICS, SHOTS, _no_horizontal_scroll, _training_data, browser  # noqa: F401 - a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEXTS = ("my vpn keeps disconnecting", "printer does not work", "password expired, account locked")


def _seed(models) -> None:
    """The log, an agent, and 60 incidents over the log's year triaged by the model, 2/3 with feedback."""
    from itsm_ai import database
    from itsm_ai.auth import service as auth_service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role
    from itsm_ai.classify.enums import FeedbackAction
    from itsm_ai.classify.feedback import give_feedback
    from itsm_ai.data.importer import import_csv
    from itsm_ai.demo.data import SERVICENOW_CSV
    from itsm_ai.engine import install
    from itsm_ai.records import service as records
    from itsm_ai.ticket.models import IncidentCreate
    from itsm_ai.ticket.service import INCIDENT

    install()
    report = import_csv(path=SERVICENOW_CSV)
    assert report.ok, report.summary()
    rng = random.Random(3)
    with database.get_session() as session:
        agent = auth_service.create(
            db_session=session, user_in=UserCreate(username="agent", role=Role.agent, password=PASSWORD)
        )
        start = datetime(2016, 3, 1, 9, tzinfo=UTC)
        for i in range(60):
            data = IncidentCreate(
                short_description=rng.choice(TEXTS), opened_at=start + timedelta(days=5 * i)
            ).model_dump()
            obj = records.create(db_session=session, spec=INCIDENT, data=data, actor=agent)
            entry = (obj.suggestions or {}).get("fields", {}).get("category") or {}
            if entry.get("status") != "suggested" or i % 3 == 0:
                continue
            if i % 3 == 1:
                give_feedback(
                    db_session=session,
                    spec=INCIDENT,
                    obj=obj,
                    field_name="category",
                    action=FeedbackAction.accepted,
                    user=agent,
                )
            else:
                give_feedback(
                    db_session=session,
                    spec=INCIDENT,
                    obj=obj,
                    field_name="category",
                    action=FeedbackAction.overridden,
                    user=agent,
                    # an override must name a class the model knows (free text is refused as a label)
                    value=next(c for c in sorted(_TOPICS) if c != entry.get("value")),
                )


@pytest.fixture
def reports_server(db, tmp_path, monkeypatch) -> Iterator[str]:
    from itsm_ai.classify.serving import suggestions
    from itsm_ai.classify.training.trainer import train_model
    from itsm_ai.config import get_settings
    from itsm_ai.main import create_app

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(get_settings(), "models_dir", models)
    suggestions.CACHE.clear()
    train_model(_training_data(), target="category", features="tfidf", folder=models, promote=True)
    _seed(models)
    with running(create_app(start_worker=False)) as base:
        yield base
    suggestions.CACHE.clear()


def test_dashboard_in_the_browser(reports_server, browser):  # noqa: F811 - the imported fixture
    base = reports_server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/console")
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url(f"{base}/console/reports")

    # The default range: the 12 months up to the latest ticket (December 2016), so all of 2016.
    assert page.locator("#r-from").input_value() == "2016-01-01"
    charts = page.locator("svg.chart[role=img]")
    assert charts.count() == 4
    for i in range(4):
        assert charts.nth(i).is_visible()
        assert charts.nth(i).locator("title").first.text_content()
    titles = page.locator("h2").all_inner_texts()
    assert titles == [
        "Volume and backlog",
        "SLA compliance per group",
        "Distribution of resolution times",
        "AI suggestions accepted",
    ]
    assert page.locator(".kpi dd").first.inner_text() not in ("", "0")
    assert page.locator("svg.chart").nth(3).locator("polyline").count() >= 1  # the AI accept-rate line
    page.screenshot(path=str(SHOTS / "20-console-reports.png"), full_page=True)

    page.locator("details summary", has_text="Data table").nth(1).click()
    table = page.locator("details[open] table")
    assert table.is_visible() and table.locator("tbody tr").count() > 1
    page.screenshot(path=str(SHOTS / "21-console-reports-table.png"), full_page=True)

    page.locator("#r-interval").select_option("week")
    page.locator("#r-group").select_option(index=1)
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert "interval=week" in page.url and page.locator("svg.chart").count() == 4

    phone = context.new_page()
    phone.set_viewport_size({"width": 375, "height": 812})
    phone.goto(f"{base}/console/reports")
    _no_horizontal_scroll(phone)
    # The page does not scroll sideways; a chart keeps readable text and scrolls inside its panel.
    figure = phone.locator(".panel figure").first
    assert phone.locator("svg.chart").first.bounding_box()["width"] >= 480
    assert figure.evaluate("f => f.scrollWidth > f.clientWidth")
    phone.screenshot(path=str(SHOTS / "22-phone-reports.png"), full_page=True)
    context.close()
