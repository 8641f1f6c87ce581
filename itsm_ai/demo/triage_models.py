"""Triage models for `itsm-ai serve --demo`: trained on the bundled topic tickets, once per data version.

category is the ticket's topic group; assignment_group is the demo group that handles the topic (the
mapping the demo loader uses), so suggestions name groups that exist. Training is skipped when CURRENT was
trained on exactly the same rows (same data hash). Evidence points at the imported demo tickets' numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select

from itsm_ai.classify.training.data import TrainingData, csv_training_data
from itsm_ai.classify.training.trainer import train_model
from itsm_ai.demo.load import TOPIC_GROUPS, TOPICS_CSV
from itsm_ai.registry import store

DEMO_TARGETS = ("category", "assignment_group")


def _numbers_by_row() -> dict[str, str]:
    """Ticket number of each imported demo topic ticket, by its correlation id (demo-topics-<row>)."""
    from itsm_ai.database import get_session
    from itsm_ai.ticket.models import Incident

    with get_session() as session:
        rows = session.execute(
            select(Incident.correlation_id, Incident.number).where(
                Incident.correlation_id.like("demo-topics-%")
            )
        )
        return {row[0]: row[1] for row in rows}


def demo_training_data(target: str) -> TrainingData:
    """The bundled topic tickets labelled for one demo target."""
    data = csv_training_data(TOPICS_CSV, text_cols=["Document"], label_col="Topic_group")
    if target == "assignment_group":
        data.labels = [None if t is None else TOPIC_GROUPS.get(t, "Service Desk") for t in data.labels]
    elif target != "category":
        raise ValueError(f"the demo has no labels for {target!r}")
    numbers = _numbers_by_row()
    # csv_training_data ids are "line N"; data row r (1-based) is on line r + 1.
    data.ids = [numbers.get(f"demo-topics-{int(i.split()[1]) - 1}", i) for i in data.ids]
    data.source = {**data.source, "kind": "demo", "path": TOPICS_CSV.name}
    return data


def ensure_demo_models(
    *,
    targets: Sequence[str] = DEMO_TARGETS,
    features: str = "tfidf",
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
