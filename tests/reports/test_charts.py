"""The dashboard's SVG charts: well-formed, accessible, escaped, and drawn to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from itsm_ai.reports.charts import (
    HEIGHT,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    Series,
    bar_chart,
    line_chart,
    nice_ticks,
)

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    labelled = root.get("aria-labelledby").split()
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    assert set(labelled) <= ids
    return root


def test_line_chart_is_accessible_and_has_a_point_per_value():
    svg = line_chart(
        "Volume",
        ["2016-01", "2016-02", "2016-03"],
        [Series("opened", [3, 5, 4]), Series("backlog", [1, 2, 0])],
    )
    root = parse(svg)
    assert root.find("s:title", NS).text == "Volume"
    desc = root.find("s:desc", NS).text
    assert "opened: from 3 (2016-01) to 4 (2016-03)" in desc and "highest 5 (2016-02)" in desc
    tips = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")][1:]
    assert "opened, 2016-02: 5" in tips and "backlog, 2016-03: 0" in tips
    assert len(root.findall("s:polyline", NS)) == 2
    assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_gaps_split_the_line():
    root = parse(
        line_chart("Rate", ["a", "b", "c", "d"], [Series("r", [0.5, None, 0.25, 1.0])], percent=True)
    )
    assert len(root.findall("s:polyline", NS)) == 2
    assert len(root.findall("s:circle", NS)) == 3
    assert "50%" in ET.tostring(root, encoding="unicode")


def test_labels_are_escaped():
    evil = '<script>alert(1)</script>&"'
    svg = bar_chart(evil, [evil], [Series(evil, [1])])
    assert "<script>" not in svg
    root = parse(svg)
    assert root.find("s:title", NS).text == evil  # the escaped text reads back as the original


def test_bars_are_to_scale_and_stack():
    root = parse(
        bar_chart("SLA", ["g1", "g2"], [Series("met", [30, 10]), Series("breached", [10, 10])], stacked=True)
    )
    rects = root.findall("s:rect", NS)
    heights = [float(r.get("height")) for r in rects]
    # The axis tops at 40 (a nice tick): g1 fills the whole plot, g2 half of it; 30:10 within g1.
    plot = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    assert heights[0] + heights[1] == pytest.approx(plot, abs=0.2)
    assert heights[2] + heights[3] == pytest.approx(plot / 2, abs=0.2)
    assert heights[0] == pytest.approx(3 * heights[1], abs=0.2)
    side = parse(bar_chart("x", ["a"], [Series("one", [2]), Series("two", [4])]))
    assert [float(r.get("height")) for r in side.findall("s:rect", NS)][1] == pytest.approx(plot, abs=0.2)


def test_empty_and_crowded_charts():
    for empty in (line_chart("Nothing", [], []), bar_chart("Nothing", [], [])):
        # Said where the chart would be (visible text), not only in its description for screen readers.
        assert [t.text for t in parse(empty).findall("s:text", NS)] == ["No data in this range."]
    many = [f"2016-{d:03d}" for d in range(365)]
    root = parse(line_chart("Daily", many, [Series("opened", list(range(365)))]))
    shown = [t for t in root.findall("s:text", NS) if t.text and t.text.startswith("2016-")]
    assert 5 < len(shown) < 20  # labels thinned so they do not overlap
    assert not root.findall("s:circle", NS)  # no markers on a dense line


@pytest.mark.parametrize(
    ("top", "expected"), [(0, [0, 1]), (7, [0, 2, 4, 6, 8]), (1234, [0, 250, 500, 750, 1000, 1250])]
)
def test_nice_ticks(top, expected):
    assert nice_ticks(top) == expected
