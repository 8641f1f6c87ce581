"""In headless Chromium: a requester reports a problem with a screenshot on the portal and replies with
another file; an agent adds a work note with a file the requester never sees; notifications are listed."""

from __future__ import annotations

import pytest

from tests.mail.helpers import PNG
from tests.ui.test_e2e import SHOTS, TIMEOUT_MS, _login, browser, live_server  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def png_file(tmp_path):
    path = tmp_path / "screen.png"
    path.write_bytes(PNG)
    log = tmp_path / "server.log"
    log.write_text("kernel: eth0 link down\n")
    return path, log


def test_files_on_the_portal_and_the_console(live_server, browser, png_file, tmp_path, monkeypatch):  # noqa: F811
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "attachment_dir", tmp_path / "files")
    shot, log = png_file
    base = live_server
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    _login(page, base, "alice", "/portal")
    page.get_by_role("link", name="Report a problem").click()
    page.get_by_label("What is wrong? (one line)").fill("Screen flickers on the dock")
    page.get_by_label("Details").fill("Since the update this morning.")
    page.get_by_label("Screenshots or files (optional)").set_input_files(str(shot))
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(f"{base}/portal/tickets/INC*", timeout=TIMEOUT_MS)
    number = page.url.rsplit("/", 1)[1]
    assert page.locator("#file-list a", has_text="screen.png").count() == 1
    page.get_by_label("Add a reply").fill("It happens on the second monitor too.")
    page.get_by_label("Attach files (optional)").set_input_files(str(log))
    page.get_by_role("button", name="Send reply").click()
    page.locator("#file-list a", has_text="server.log").wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "20-portal-ticket-files.png"), full_page=True)

    agent = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    _login(agent, base, "agent", "/console")
    agent.goto(f"{base}/console/tickets/{number}")
    agent.get_by_label("Text").fill("Driver log attached.")
    agent.get_by_label("Attach files (a work note's files stay internal)").set_input_files(str(shot))
    agent.get_by_role("button", name="Add", exact=True).click()
    agent.locator("#file-list li", has_text="internal").wait_for(timeout=TIMEOUT_MS)
    agent.screenshot(path=str(SHOTS / "21-console-ticket-files.png"), full_page=True)
    assert agent.locator("#file-list li").count() == 3

    page.reload()
    assert page.locator("#file-list li").count() == 2  # the work note's file stays hidden
    page.get_by_role("link", name="Notifications").click()
    page.locator("#notification-list li", has_text=number).first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "22-portal-notifications.png"), full_page=True)
