"""Loaders for the real ticket data sets used by the triage benchmark, and an on-disk embedding cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from itsm_ai.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Settings().shared_data_dir
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
# Slices of the real data that ship with the package: what the --tiny runs use, so CI needs nothing else.
DEMO_DIR = REPO_ROOT / "itsm_ai" / "demo"

ROUTING_FIELDS = ("category", "subcategory", "u_symptom", "cmdb_ci", "location")


def load_topics(folder: Path = DATA_DIR) -> tuple[list[str], list[str]]:
    """it_tickets_topics.csv as (texts, topic groups); the one unlabelled row is dropped."""
    frame = pd.read_csv(folder / "it_tickets_topics.csv")
    frame = frame.dropna(subset=["Topic_group"])
    return frame["Document"].fillna("").astype(str).tolist(), frame["Topic_group"].astype(str).tolist()


def assignment_text(short: object, description: object) -> str:
    """Join an incident's short description and description into one text."""
    parts = [p for p in (short, description) if isinstance(p, str) and p.strip()]
    return " . ".join(parts)


def load_assignment_with_caller() -> tuple[list[str], list[str], list[str]]:
    """ticket_assignment.csv as (short description + description, assignment group, caller)."""
    frame = pd.read_csv(DATA_DIR / "ticket_assignment.csv")
    frame = frame.dropna(subset=["Assignment group"])
    texts = [
        assignment_text(s, d) for s, d in zip(frame["Short description"], frame["Description"], strict=True)
    ]
    callers = frame["Caller"].fillna("").astype(str).tolist()
    return texts, frame["Assignment group"].astype(str).tolist(), callers


def load_assignment() -> tuple[list[str], list[str]]:
    """ticket_assignment.csv as (short description + description, assignment group)."""
    texts, groups, _callers = load_assignment_with_caller()
    return texts, groups


def load_routing(full: bool = False, folder: Path = DATA_DIR) -> tuple[list[dict[str, str]], list[str]]:
    """Last event per incident of the ServiceNow log as (structured fields, assignment group)."""
    name = "servicenow_incident_event_log_full.csv.gz" if full else "servicenow_incident_event_log.csv"
    frame = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
    # Rows are in event order within an incident: the last one carries the final routing.
    frame = frame.groupby("number", sort=False).tail(1)
    frame = frame[~frame["assignment_group"].isin(["?", ""])]
    records = [
        {f: v for f in ROUTING_FIELDS if (v := str(row[f]).strip()) not in ("?", "")}
        for row in frame[list(ROUTING_FIELDS)].to_dict("records")
    ]
    return records, frame["assignment_group"].astype(str).tolist()


def texts_digest(texts: list[str]) -> str:
    """A short content hash of a list of texts (the cache key of their embeddings)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def cached_embeddings(texts: list[str], *, tag: str, encode=None) -> np.ndarray:
    """Embed texts with the shared encoder, reusing benchmarks/results/emb_<tag>_<hash>.npy when present."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"emb_{tag}_{texts_digest(texts)}.npy"
    if path.exists():
        return np.load(path)
    if encode is None:
        from itsm_ai.embeddings import get_encoder

        encode = get_encoder().encode
    vectors = np.asarray(encode(texts), dtype=np.float32)
    np.save(path, vectors)
    return vectors


class OnnxMiniLM:
    """all-MiniLM-L6-v2 exported with torch.onnx and run by onnxruntime (mean pooling, unit vectors).

    A benchmark stand-in for sentence-transformers' ``backend="onnx"``, whose extra (optimum-onnx) would
    downgrade transformers and sentence-transformers in this environment.
    """

    def __init__(self, st_model, folder: Path, *, quantize: bool = False, batch_size: int = 64):
        import onnxruntime as ort
        import torch

        self.tokenizer = st_model.tokenizer
        self.max_length = st_model.max_seq_length
        self.batch_size = batch_size
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "minilm.onnx"
        if not path.exists():
            bert = st_model[0].auto_model.eval()

            class Pooled(torch.nn.Module):
                """BERT plus masked mean pooling and L2 normalisation, as one exportable graph."""

                def __init__(self, inner):
                    super().__init__()
                    self.inner = inner

                def forward(self, input_ids, attention_mask, token_type_ids):
                    """Unit sentence vectors for a padded batch."""
                    hidden = self.inner(
                        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                    ).last_hidden_state
                    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    return torch.nn.functional.normalize(pooled, dim=1)

            sample = self.tokenizer(["a sample ticket"], return_tensors="pt")
            axes = {0: "batch", 1: "tokens"}
            torch.onnx.export(
                Pooled(bert),
                (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                str(path),
                dynamo=False,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes},
                opset_version=17,
            )
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            qpath = folder / "minilm.int8.onnx"
            if not qpath.exists():
                quantize_dynamic(str(path), str(qpath), weight_type=QuantType.QInt8)
            path = qpath
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts in length-sorted batches (as sentence-transformers does)."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
            out[idx] = self.session.run(None, feeds)[0]
        return out
