"""The console queue at 1280x800 in headless Chromium: no table cell breaks inside a word, the number, state
and priority stay on one line, a long group name is cut with an ellipsis and shown whole in its title, and the
page itself never scrolls sideways. Screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import pytest

from tests.ui.conftest import running
from tests.ui.test_e2e import SHOTS, _login, _no_horizontal_scroll, browser  # noqa: F401 - a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LONG_GROUP = "Enterprise Application Support and Operations Management Europe"

# For every word of every cell, the rectangles of its rendered text: a word broken across lines has two.
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll("table.queue th, table.queue td")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = [...range.getClientRects()].filter(r => r.width > 0);
        if (new Set(rects.map(r => Math.round(r.top))).size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""

# Rendered height of each one-line cell's content against the height of one line of its text.
LINES = """(selector) => [...document.querySelectorAll(selector)].map(cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
  return [cell.textContent.trim(), tops.size];
})"""


def test_queue_cells_never_break_inside_a_word(app, users, make, browser):  # noqa: F811
    make.group("Hardware Support")
    make.group(LONG_GROUP)
    for i in range(6):
        make.incident(
            short_description=f"Docking station {i} does not charge the laptop after the firmware update",
            assignment_group="Hardware Support" if i % 2 else LONG_GROUP,
            assigned_to="agent2" if i % 3 else None,
            impact=1 + i % 3,
            urgency=1 + (i + 1) % 3,
        )
    with running(app) as base:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        _login(page, base, "agent", "/console")
        page.locator("table.queue tbody tr").first.wait_for()
        page.screenshot(path=str(SHOTS / "console-queue-1280.png"), full_page=True)

        assert page.evaluate(BROKEN_WORDS) == []
        for text, lines in page.evaluate(LINES, "table.queue td.nowrap, table.queue td.clip"):
            assert lines == 1, f"{text!r} takes {lines} lines"
        numbers = page.evaluate(LINES, "table.queue td[data-label=Number] a")
        assert len(numbers) == 6 and all(t.startswith("INC") and n == 1 for t, n in numbers), numbers

        long_cell = page.locator("table.queue td.clip", has_text="Enterprise").first
        assert long_cell.get_attribute("title") == LONG_GROUP
        assert long_cell.evaluate("c => getComputedStyle(c).textOverflow") == "ellipsis"
        assert long_cell.evaluate("c => c.scrollWidth > c.clientWidth"), "the long group name is not cut"
        _no_horizontal_scroll(page)


def test_queue_table_scrolls_inside_its_box_on_a_narrow_screen(app, users, make, browser):  # noqa: F811
    make.group(LONG_GROUP)
    make.incident(short_description="Printer jams", assignment_group=LONG_GROUP)
    with running(app) as base:
        page = browser.new_context(viewport={"width": 700, "height": 800}).new_page()
        _login(page, base, "agent", "/console")
        page.locator("table.queue tbody tr").first.wait_for()
        assert page.evaluate(BROKEN_WORDS) == []
        _no_horizontal_scroll(page)
        wrapper = page.locator("div.scroll:has(> table.queue)")
        assert wrapper.evaluate("w => getComputedStyle(w).overflowX") == "auto"
        assert wrapper.evaluate("w => w.scrollWidth > w.clientWidth"), "the table fits: nothing tested"
