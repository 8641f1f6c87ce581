"""Derive the shipped `stackexchange_qa.json` from the Stack Exchange question sets in ../shared/data.

`python -m itsm_ai.demo.build_qa [SHARED_DATA_DIR]` keeps each question that has an accepted answer and a URL,
converts the answer's HTML to plain text (`qa_text.html_to_text`) and records, per item, where it comes from,
who wrote it and under which licence (CC BY-SA 3.0 asks for exactly that). Deterministic: the same input gives
the same file byte for byte.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from itsm_ai.demo.qa_text import html_to_text

SOURCES = (("askubuntu_qa_intents.json", "Ask Ubuntu"), ("webapps_qa_intents.json", "Web Applications"))
LICENCE = "CC BY-SA 3.0"
LICENCE_URL = "https://creativecommons.org/licenses/by-sa/3.0/"
CORPUS_URL = "https://github.com/sebischair/NLU-Evaluation-Corpora"
OUTPUT = Path(__file__).resolve().parent / "stackexchange_qa.json"
_QUESTION_ID = re.compile(r"stackexchange\.com/questions/(\d+)|askubuntu\.com/questions/(\d+)")


def derive(folder: Path) -> list[dict[str, Any]]:
    """Items of the shipped file, in source order: askubuntu first, then webapps."""
    items = []
    for name, site in SOURCES:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        prefix = name.split("_", 1)[0]
        for sentence in data["sentences"]:
            answer, url = sentence.get("answer"), sentence.get("url")
            if not answer or not url:
                continue  # nothing to resolve with, or nothing to attribute to
            match = _QUESTION_ID.search(url)
            question_id = next(g for g in match.groups() if g) if match else str(len(items))
            items.append(
                {
                    "id": f"{prefix}-{question_id}",
                    "site": site,
                    "url": url,
                    "question": " ".join(sentence["text"].split()),
                    "question_author": sentence.get("author"),
                    "intent": sentence["intent"],
                    "answer": html_to_text(answer["text"]),
                    "answer_author": answer.get("author"),
                    "licence": LICENCE,
                }
            )
    return items


def main(argv: list[str] | None = None) -> int:
    """Write stackexchange_qa.json from the shared data folder (default: the setting shared_data_dir)."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        folder = Path(args[0])
    else:
        from itsm_ai.config import get_settings

        folder = Path(get_settings().shared_data_dir)
    document = {
        "source": CORPUS_URL,
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
        "changes": "Questions without an accepted answer or a URL left out; answers converted to plain text.",
        "items": derive(folder),
    }
    OUTPUT.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(document['items'])} items to {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
