"""Loaders, embedding cache and table printing for the knowledge / similar-incident benchmarks."""

from __future__ import annotations

import hashlib
import json
import platform
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from itsm_ai.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Settings().shared_data_dir
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
CACHE_DIR = RESULTS_DIR / "cache"
# Slices of the real data that ship with the package: what the --tiny runs use, so CI needs nothing else.
DEMO_DIR = REPO_ROOT / "itsm_ai" / "demo"


def report_text(title: object, description: object) -> str:
    """Title + description of a bug report as one text."""
    parts = [p.strip() for p in (title, description) if isinstance(p, str) and p.strip()]
    return " . ".join(parts)


def load_openoffice() -> tuple[pd.DataFrame, pd.DataFrame]:
    """openoffice_duplicates.csv as (reports deduplicated by bug id, duplicate -> master pairs)."""
    pairs = pd.read_csv(DATA_DIR / "openoffice_duplicates.csv")
    sides = []
    for side in ("dup", "master"):
        part = pairs[
            [f"bug_id_{side}", f"title_{side}", f"description_{side}", f"product_{side}", f"component_{side}"]
        ].copy()
        part.columns = ["bug_id", "title", "description", "product", "component"]
        sides.append(part)
    reports = pd.concat(sides).drop_duplicates("bug_id").reset_index(drop=True)
    reports["title"] = reports["title"].fillna("").astype(str)
    reports["description"] = reports["description"].fillna("").astype(str)
    reports["text"] = [
        report_text(t, d) for t, d in zip(reports["title"], reports["description"], strict=True)
    ]
    return reports, pairs


def is_dev_pair(bug_id_dup: int, dev_share: int = 3) -> bool:
    """Fixed dev part of the pairs (~30%, by a hash of the duplicate's id): tune here, report on the rest."""
    return zlib.crc32(str(int(bug_id_dup)).encode()) % 10 < dev_share


def load_topics(folder: Path = DATA_DIR) -> tuple[list[str], list[str]]:
    """it_tickets_topics.csv as (documents, topic groups), dropping the one unlabelled row."""
    frame = pd.read_csv(folder / "it_tickets_topics.csv").dropna(subset=["Topic_group"])
    return frame["Document"].fillna("").astype(str).tolist(), frame["Topic_group"].astype(str).tolist()


def load_qa(name: str) -> list[dict[str, Any]]:
    """askubuntu / webapps QA intents as a list of question dicts (text, intent, answer.text, url)."""
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))["sentences"]


def digest(texts: Sequence[str], salt: str = "") -> str:
    """A short content hash of texts, the cache key of their embeddings."""
    h = hashlib.sha256(salt.encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def cached_embeddings(texts: Sequence[str], *, tag: str) -> np.ndarray:
    """Embed texts with the shared encoder, cached as benchmarks/results/cache/<tag>_<hash>.npy."""
    from itsm_ai.embeddings import get_encoder

    encoder = get_encoder()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"{tag}_{digest(texts, encoder.model_version)}.npy"
    if path.exists():
        return np.load(path)
    start = time.perf_counter()
    vectors = encoder.encode(list(texts))
    print(f"  embedded {len(texts)} texts for {tag} in {time.perf_counter() - start:.1f} s")
    np.save(path, vectors)
    return vectors


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """Print a fixed-width table."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write a benchmark's results as benchmarks/results/<name>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "machine": platform.machine(), "python": platform.python_version(), **data}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {path.relative_to(REPO_ROOT)}")
    return path


def qa_clusters(name: str) -> dict[str, list[dict[str, str]]]:
    """QA intents file as intent -> resolved-ticket dicts (question as description, accepted answer as
    resolution); questions without an answer and the "None" intent are skipped."""
    clusters: dict[str, list[dict[str, str]]] = {}
    for item in load_qa(name):
        answer = (item.get("answer") or {}).get("text")
        if not answer or item.get("intent") in (None, "None"):
            continue
        url = item.get("url", "")
        number = next((p for p in url.split("/") if p.isdigit()), url)
        clusters.setdefault(item["intent"], []).append(
            {
                "number": f"Q{number}",
                "short_description": item["text"],
                "description": item["text"],
                "resolution_notes": answer,
                "url": url,
            }
        )
    return clusters
