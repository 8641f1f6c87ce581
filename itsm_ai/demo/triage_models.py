"""Triage models for `itsm-ai serve --demo`: trained on the demo's resolved tickets, once per data version.

The training rows are the shipped Stack Exchange questions (`stackexchange_qa.json`) and the written cluster
of resolved e-mail tickets (`data.DRAFT_CLUSTER`), labelled with the readable category and group the loader
gives them, so suggestions name categories and groups that exist. Training is skipped when CURRENT was
trained on exactly the same rows (same data hash). Evidence points at the loaded demo tickets' numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select

from itsm_ai.classify.training.data import TrainingData
from itsm_ai.classify.training.trainer import train_model
from itsm_ai.demo.data import DRAFT_CLUSTER, DRAFT_CLUSTER_CATEGORY, QA_JSON, qa_items
from itsm_ai.registry import store

DEMO_TARGETS = ("category", "assignment_group")
DRAFT_CLUSTER_GROUP = "Web and Collaboration"


def _numbers_by_key() -> dict[str, str]:
    """Ticket number of each loaded demo history ticket, by its correlation id."""
    from itsm_ai.database import get_session
    from itsm_ai.ticket.models import Incident

    with get_session() as session:
        rows = session.execute(
            select(Incident.correlation_id, Incident.number).where(Incident.correlation_id.like("demo-%"))
        )
        return {row[0]: row[1] for row in rows}


def demo_training_data(target: str) -> TrainingData:
    """The demo's resolved tickets (title and question as the ticket holds them) labelled for one target."""
    if target not in DEMO_TARGETS:
        raise ValueError(f"the demo has no labels for {target!r}")
    numbers = _numbers_by_key()
    texts, labels, ids = [], [], []
    for item in qa_items():
        texts.append(item["question"])
        labels.append(item["category"] if target == "category" else item["group"])
        key = f"demo-se-{item['id']}"
        ids.append(numbers.get(key, key))
    for key, title, text, _ in DRAFT_CLUSTER:
        texts.append(f"{title} . {text}")
        labels.append(DRAFT_CLUSTER_CATEGORY if target == "category" else DRAFT_CLUSTER_GROUP)
        ids.append(numbers.get(key, key))
    snippets = [text[:200] for text in texts]
    source = {"kind": "demo", "path": QA_JSON.name, "rows": len(texts)}
    return TrainingData(texts=texts, labels=labels, ids=ids, snippets=snippets, source=source)


def ensure_demo_models(
    *,
    targets: Sequence[str] = DEMO_TARGETS,
    features: str = "embedding",
    progress: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Train and promote each demo model unless CURRENT already has the same data; returns what was done."""
    say = progress or (lambda message: None)
    done = {}
    for target in targets:
        data = demo_training_data(target)
        keep = [i for i, label in enumerate(data.labels) if label is not None]
        snapshot = store.data_snapshot([data.texts[i] for i in keep], [data.labels[i] for i in keep])
        current = store.current_version(target)
        if current is not None:
            try:
                meta = store.read_metadata(target, current)
            except store.RegistryError:
                meta = {}
            if (meta.get("data") or {}).get("sha256") == snapshot["sha256"]:
                done[target] = f"kept {current}"
                continue
        say(f"training the demo {target} model on {len(keep)} tickets ...")
        result = train_model(data, target=target, features=features, promote=True)
        done[target] = f"trained {result.version}"
        say(f"demo {target} model: {result.version} (CURRENT)")
    return done
