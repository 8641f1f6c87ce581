"""The agent console's journeys in headless Chromium (Debian's /usr/bin/chromium via Playwright): the queue's
search, saved views, keyboard shortcuts and bulk changes (a ticket changed meanwhile is reported, not
overwritten); the ticket page's in-place changes; a ticket opened for a caller; an approval decided by its
approver; an article written in Markdown, edited, compared and published. Every page at 1280 and 375 px: no
horizontal scroll, no word broken inside a table cell, no serious or critical axe-core violation. Screenshots
go to the test's tmp dir."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import REPO_ROOT
from tests.ui.axe import serious_violations
from tests.ui.conftest import running
from tests.ui.test_e2e import _login, _no_horizontal_scroll, browser  # noqa: F401 - a fixture
from tests.ui.test_queue_layout import BROKEN_WORDS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _check(page, shots, name: str) -> None:
    """Screenshots at 1280 and 375 px, each without sideways scroll, broken words or serious axe findings."""
    for width, height in ((1280, 800), (375, 812)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(100)
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        _no_horizontal_scroll(page)
        broken = page.evaluate(BROKEN_WORDS.replace("table.queue th, table.queue td", "table th, table td"))
        assert broken == [], f"{name} at {width}px breaks words in table cells: {broken}"
        found = serious_violations(page)
        assert found == [], f"{name} at {width}px: " + "; ".join(found)
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.fixture
def shots(tmp_path, request):
    """The test's tmp dir for screenshots; copied to test-artifacts/screenshots/console/ to look at later
    (pytest keeps only its last few tmp dirs)."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    keep = REPO_ROOT / "test-artifacts" / "screenshots" / "console"
    keep.mkdir(parents=True, exist_ok=True)
    for shot in folder.glob("*.png"):
        shutil.copy2(shot, keep / shot.name)


def test_queue_search_views_shortcuts_and_bulk_changes(app, users, make, browser, shots):  # noqa: F811
    make.group("Network", members=["agent", "agent2"])
    make.group("Hardware Support", members=["agent2"])
    printer = make.incident(
        short_description="Printer jam on the third floor", assignment_group="Hardware Support"
    )
    vpn = make.incident(short_description="VPN drops every ten minutes", assignment_group="Network")
    wifi = make.incident(short_description="Wi-Fi slow in meeting room", assignment_group="Network")
    make.incident(short_description="Laptop screen flickers", assigned_to="agent2")
    with running(app) as base:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        _login(page, base, "agent", "/console")
        page.locator("table.queue tbody tr").first.wait_for()
        _check(page, shots, "queue")

        # "?" opens the help overlay, Esc closes it.
        page.locator("main h1").click()
        page.keyboard.press("?")
        dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
        dialog.wait_for()
        page.screenshot(path=str(shots / "queue-shortcuts-1280.png"))
        assert "Next / previous ticket" in dialog.inner_text()
        page.keyboard.press("Escape")
        assert not dialog.is_visible()

        # "/" focuses the search; Enter runs it through the full-text index.
        page.keyboard.press("/")
        page.keyboard.type("printer ja")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*q=printer\+ja.*"))
        assert page.locator("table.queue tbody tr").count() == 1
        assert page.locator("table.queue").inner_text().count(printer["number"]) == 1

        page.get_by_role("link", name="My groups").click()
        page.wait_for_url(re.compile(r".*view=my_groups.*"))
        numbers = {n.inner_text() for n in page.locator("table.queue td[data-label=Number] a").all()}
        assert numbers == {vpn["number"], wifi["number"]}

        # j moves to the first row, x selects it; the second by its checkbox; m assigns them to me.
        page.locator("main h1").click()
        page.keyboard.press("j")
        page.keyboard.press("x")
        page.keyboard.press("j")
        page.keyboard.press("x")
        assert page.locator("#bulk-selected").inner_text() == "2"
        page.keyboard.press("m")
        page.get_by_text("2 of 2 tickets updated.").wait_for()
        assert make.get(f"incidents/{vpn['number']}")["assigned_to"] == "agent"
        assert make.get(f"incidents/{wifi['number']}")["assigned_to"] == "agent"

        # Someone changes the VPN ticket meanwhile: the bulk state change reports it (409), the other goes on.
        current = make.get(f"incidents/{vpn['number']}")
        make.patch(f"incidents/{vpn['number']}", {"version": current["version"], "impact": 1}, as_="agent2")
        page.get_by_label("Select all shown tickets").check()
        page.get_by_label("State", exact=True).last.select_option("in_progress")
        page.get_by_role("button", name="Apply to selected").click()
        page.get_by_text("1 of 2 tickets updated. 1 failed:").wait_for()
        failures = page.locator(".failures").inner_text()
        assert vpn["number"] in failures and "(409)" in failures
        page.screenshot(path=str(shots / "queue-bulk-409-1280.png"), full_page=True)
        assert make.get(f"incidents/{wifi['number']}")["state"] == "in_progress"
        assert make.get(f"incidents/{vpn['number']}")["state"] == "new"


def test_ticket_page_changes_in_place(app, users, make, browser, shots):  # noqa: F811
    make.group("Network", members=["agent", "agent2"])
    make.group("Desk")
    make.incident(short_description="Seed a known category", category="network")
    problem = make.problem(short_description="VPN concentrator overloaded")
    ticket = make.incident(
        short_description="VPN drops every ten minutes",
        assignment_group="Network",
        description="Since Monday.",
    )
    with running(app) as base:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        _login(page, base, "agent", "/console")
        page.goto(f"{base}/console/tickets/{ticket['number']}")
        _check(page, shots, "ticket")
        page.evaluate("window.__sameDocument = true")

        page.get_by_role("button", name="Assign to me").click()
        page.locator("#assign").get_by_text("Assigned to you.").wait_for()
        assert page.evaluate("window.__sameDocument") is True, "the page reloaded"

        page.get_by_label("Assigned to (members of Network)").select_option("agent2")
        page.get_by_label("Category", exact=True).select_option("network")
        page.get_by_label("Impact").select_option("1")
        page.locator("#fields-form").scroll_into_view_if_needed()
        before = page.evaluate("window.scrollY")
        page.get_by_role("button", name="Save fields").click()
        page.locator("#fields-form .status", has_text="Saved.").wait_for()
        assert page.evaluate("window.__sameDocument") is True
        assert abs(page.evaluate("window.scrollY") - before) < 5, "the page jumped back to the top"
        stored = make.get(f"incidents/{ticket['number']}")
        assert (stored["assigned_to"], stored["category"], stored["impact"]) == ("agent2", "network", 1)

        page.get_by_label("Problem number").fill(problem["number"])
        page.get_by_role("button", name="Link to problem").click()
        page.locator("#problem-form .status", has_text="Saved.").wait_for()
        assert make.get(f"incidents/{ticket['number']}")["problem"] == problem["number"]
        assert page.locator("main").get_by_role("link", name=problem["number"]).count() >= 1

        page.get_by_label("State", exact=True).select_option("in_progress")
        page.get_by_role("button", name="Save", exact=True).click()
        page.locator("#ticket-state", has_text="in progress").wait_for()
        assert page.evaluate("window.__sameDocument") is True

        page.get_by_label("Text", exact=True).fill("Checked the concentrator logs.")
        page.get_by_role("button", name="Add", exact=True).click()
        page.locator("#comment-form .status", has_text="Saved.").wait_for()
        assert "Checked the concentrator logs." in page.locator(".history").inner_text()
        assert page.evaluate("window.__sameDocument") is True
        page.screenshot(path=str(shots / "ticket-after-changes-1280.png"), full_page=True)


def test_new_ticket_for_a_caller_and_an_approval(app, users, make, browser, shots):  # noqa: F811
    make.group("Desk")
    item = make.catalog_item("Docking station")
    req = make.request(
        short_description="Docking station for the new starter",
        catalog_item=item["name"],
        quantity=1,
        variables={"justification": "New starter on Monday"},
    )
    make.post(f"requests/{req['number']}/approvals", {"approvers": ["agent"]}, as_="admin")
    with running(app) as base:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        _login(page, base, "agent", "/console")
        page.goto(f"{base}/console/new")
        _check(page, shots, "new-ticket")
        page.get_by_label("Caller (username)").fill("requester")
        page.get_by_label("Short description").fill("Phone: Outlook asks for the password again and again")
        page.get_by_label("Group").select_option("Desk")
        page.get_by_role("button", name="Create").click()
        page.wait_for_url(re.compile(r".*/console/tickets/INC\d+"))
        number = page.url.rsplit("/", 1)[1]
        created = make.get(f"incidents/{number}")
        assert (created["caller"], created["assignment_group"]) == ("requester", "Desk")

        page.goto(f"{base}/console/tickets/{req['number']}")
        main = page.locator("main")
        assert "Docking station × 1" in main.inner_text() and "New starter on Monday" in main.inner_text()
        _check(page, shots, "request")
        page.get_by_label("Comment (optional)").fill("Budget approved")
        page.get_by_role("button", name="Approve").click()
        page.locator("#approvals .badge", has_text="approved").wait_for()
        assert "Budget approved" in page.locator("#approvals").inner_text()
        assert make.get(f"requests/{req['number']}/approvals")[0]["state"] == "approved"


def test_knowledge_write_edit_compare_and_publish(app, users, make, browser, shots):  # noqa: F811
    with running(app) as base:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        _login(page, base, "agent", "/console")
        page.goto(f"{base}/console/knowledge")
        page.get_by_role("link", name="Write an article").click()
        page.get_by_label("Title").fill("Reconnect the VPN")
        page.get_by_label(re.compile(r"^Text")).fill(
            "## Steps\n\n1. Open the **VPN client**\n2. Click *Reconnect*\n\n<script>alert(1)</script>"
        )
        page.get_by_role("button", name="Create draft").click()
        page.wait_for_url(re.compile(r".*/console/knowledge/KB\d+$"))
        article = page.locator("#article")
        assert article.locator("h2", has_text="Steps").count() == 1
        assert article.locator("strong", has_text="VPN client").count() == 1
        assert "<script>alert(1)</script>" in article.inner_text()  # shown as text, never run
        number = page.url.rsplit("/", 1)[1]

        page.get_by_role("link", name="Edit").click()
        page.get_by_label(re.compile(r"^Text")).fill(
            "## Steps\n\n1. Open the **VPN client**\n2. Click *Connect*"
        )
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(rf".*/console/knowledge/{number}$"))
        assert page.locator(".diff .ddel", has_text="Reconnect").count() == 1
        assert page.locator(".diff .dadd", has_text="Connect").count() == 1
        _check(page, shots, "article")

        page.get_by_role("button", name="Send for review").click()
        page.locator("#article-state", has_text="review").wait_for()
        page.goto(f"{base}/console/knowledge")
        _check(page, shots, "knowledge")
        review = page.locator(".review-item", has_text="Reconnect the VPN")
        review.get_by_role("button", name="Publish").click()
        page.get_by_text("No article is waiting for review.").wait_for()
        assert make.get(f"knowledge/{number}")["state"] == "published"


def test_the_callers_manager_approves_a_request(app, users, make, browser, shots):  # noqa: F811
    current = make.get("users/requester", as_="admin")
    make.patch("users/requester", {"version": current["version"], "manager": "agent2"}, as_="admin")
    make.catalog_item("Laptop", requires_approval=True, approval_by_manager=True)
    req = make.request(as_="requester", catalog_item="Laptop", short_description="Laptop for the trip")
    assert (req["state"], req["approval"]) == ("approval", "requested")
    with running(app) as base:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        _login(page, base, "agent2", "/console")
        # The manager hears of it in the notifications and follows the link to the request.
        page.goto(f"{base}/console/notifications")
        page.get_by_role("link", name=re.compile(rf"\[{req['number']}\] Approval requested")).click()
        page.wait_for_url(re.compile(rf".*/console/tickets/{req['number']}$"))
        approvals = page.locator("#approvals")
        assert "Round 1: agent2" in approvals.inner_text()
        assert "(asked on creation: the caller's manager)" in approvals.inner_text()
        _check(page, shots, "manager-approval")
        page.get_by_label("Comment (optional)").fill("Fine for the trip")
        page.get_by_role("button", name="Approve").click()
        approvals.locator(".badge", has_text="approved").wait_for()
        decided = approvals.inner_text()
        assert "the caller's manager) by agent2" in decided and "Fine for the trip" in decided
        page.screenshot(path=str(shots / "manager-approved-1280.png"), full_page=True)
    done = make.get(f"requests/{req['number']}")
    assert (done["approval"], done["state"]) == ("approved", "fulfilment")
