"""The shipped Stack Exchange file: answers as safe plain text, each item attributed, derived reproducibly."""

from __future__ import annotations

import json
import re

import pytest

from itsm_ai.demo.build_qa import derive
from itsm_ai.demo.data import INTENT_ROUTES, QA_JSON, attribution, qa_items
from itsm_ai.demo.qa_text import html_to_text


def test_markup_and_active_content_never_survive():
    html = (
        '<p>Run <code>sudo apt update</code> &amp; retry.<script>alert("x")</script></p>'
        '<a href="javascript:alert(1)">click</a> <a href="https://askubuntu.com/a/1">the answer</a>'
        '<img src="x" onerror="alert(1)" alt="diagram"><style>p{}</style><iframe src="https://e.vil"></iframe>'
    )
    text = html_to_text(html)
    assert "<" not in text and "alert" not in text and "javascript" not in text and "e.vil" not in text
    assert "sudo apt update & retry." in text
    assert "click" in text and "the answer (https://askubuntu.com/a/1)" in text and "[diagram]" in text


def test_code_lists_and_paragraphs_keep_their_shape():
    html = (
        "<p>First:</p><ol><li><p>Open a terminal</p></li><li>Run</li></ol>"
        "<pre><code>a\n  b\n</code></pre><p>Done</p>"
    )
    assert html_to_text(html) == "First:\n\n- Open a terminal\n- Run\n\n    a\n      b\n\nDone"
    assert (
        html_to_text("<p>https://x.org</p><a href='https://x.org'>https://x.org</a>")
        == "https://x.org\n\nhttps://x.org"
    )


def test_every_shipped_item_is_plain_text_and_attributed():
    document = json.loads(QA_JSON.read_text(encoding="utf-8"))
    assert document["licence"] == "CC BY-SA 3.0" and document["licence_url"].startswith(
        "https://creativecommons"
    )
    items = qa_items()
    assert len(items) == 245 and len({i["id"] for i in items}) == 245
    for item in items:
        assert item["url"].startswith("http") and item["question_author"] and item["answer_author"]
        assert item["licence"] == "CC BY-SA 3.0" and item["answer"].strip()
        assert not re.search(r"</?(p|a|code|pre|li|img|script)\b", item["answer"]), item["id"]
        assert (item["site"], item["intent"]) in INTENT_ROUTES
        line = attribution(item)
        assert item["url"] in line and item["answer_author"] in line and "CC BY-SA 3.0" in line


def test_the_shipped_file_is_what_the_builder_derives(shared_data):
    if not (shared_data / "askubuntu_qa_intents.json").exists():
        pytest.skip("the Stack Exchange question sets are not in ../shared/data")
    shipped = json.loads(QA_JSON.read_text(encoding="utf-8"))["items"]
    assert derive(shared_data) == shipped
