"""Fixtures for the retrieval and drafting core: vectors, a hashing encoder, tickets, a fake LLM server."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from itsm_ai.knowledge.tokens import tokenize


def _repo_root() -> Path:
    here = Path(__file__).resolve()
    return next(p for p in here.parents if (p / "pyproject.toml").exists())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder next to the repository; tests using it skip when it is absent."""
    path = _repo_root().parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is absent")
    return path


@pytest.fixture(autouse=True)
def _single_faiss_thread():
    """One OpenMP thread for faiss: on a shared 2-core machine spinning threads make small builds slow."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n random unit vectors of dimension d."""
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class HashEncoder:
    """A deterministic bag-of-words encoder (no model download) with the Encoder interface."""

    model_name = "hash-bow"
    model_version = "hash-bow==1"
    dimension = 64

    def encode(self, texts):
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for tok in tokenize(text):
                seed = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[row] += np.random.default_rng(seed).normal(size=self.dimension)
            if not out[row].any():
                out[row, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def hash_encoder() -> HashEncoder:
    return HashEncoder()


@pytest.fixture(scope="session")
def encoder():
    """The real all-MiniLM-L6-v2 encoder (slow tests only)."""
    from itsm_ai.embeddings import get_encoder

    return get_encoder()


@pytest.fixture
def printer_tickets() -> list[dict[str, str]]:
    """A cluster of resolved printer tickets with personal data in them."""
    return [
        {
            "number": "INC0010001",
            "short_description": "Printer on 3rd floor not printing",
            "description": "Hi team,\nJobs sit in the queue and the printer PRN-3F-01 does not print. "
            "Call me on +44 20 7946 0958.\nThanks,\nAlice Martin",
            "resolution_notes": "The print spooler service had hung. Restarted the Print Spooler service on "
            "the print server. Cleared the stuck jobs from the queue. Printing works again.",
        },
        {
            "number": "INC0010002",
            "short_description": "Cannot print - jobs stuck in queue",
            "description": "Documents stay in the print queue forever. Contact bob.jones@example.com.",
            "resolution_notes": "Cleared the stuck jobs from the print queue. Restarted the print spooler "
            "service. Asked Bob Jones to print a test page: OK.",
        },
        {
            "number": "INC0010003",
            "short_description": "printing stopped after update",
            "description": "Since this morning nothing prints, the queue shows jobs waiting.",
            "resolution_notes": "Issue was caused by a hung print spooler after the Windows update. "
            "Restarted the print spooler service. Updated the printer driver to the latest version. "
            "Regards, Carol White",
        },
        {
            "number": "INC0010004",
            "short_description": "Print jobs stuck",
            "description": "<p>Print jobs <b>stuck</b> in queue, see screenshot.</p><p>Caller: Dan Brown</p>",
            "resolution_notes": "<ol><li>Restarted the print spooler service on <code>PRINTSRV01</code>.</li>"
            "<li>Cleared the queue with:</li></ol><pre><code>net stop spooler\n"
            "del /Q %systemroot%\\System32\\spool\\PRINTERS\\*\nnet start spooler\n</code></pre>",
        },
    ]


class _LLMHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):
        server = self.server
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        mode = server.mode
        if mode == "slow":
            time.sleep(server.delay)
        if mode == "500":
            payload, status = b'{"error": "boom"}', 500
        else:
            content = server.content if mode in ("ok", "slow") else "I am sorry, I cannot help with that."
            payload = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": content}}]}
            ).encode()
            status = 200
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def llm_server():
    """A local OpenAI-compatible chat endpoint on 127.0.0.1 with a switchable behaviour."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LLMHandler)
    server.daemon_threads = True
    server.requests = []
    server.mode = "ok"
    server.delay = 1.0
    server.content = "{}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def unit_vectors(rng):
    """A factory of random unit vectors: unit_vectors(n, d)."""
    return lambda n, d: unit(rng, n, d)


# ------------------------------------------------------------------------------ store-backed knowledge tests


@pytest.fixture
def knowledge_settings(tmp_path):
    """Settings for one test: index under tmp_path, small thresholds, no warm-up thread."""
    from itsm_ai.config import get_settings

    return get_settings().model_copy(
        update={
            "knowledge_index_dir": tmp_path / "index",
            "knowledge_warm_on_startup": False,
            "knowledge_major_incident_count": 3,
            "knowledge_major_incident_threshold": 0.8,
            "knowledge_duplicate_threshold": 0.85,
            "knowledge_similar_min_score": 0.2,
            "knowledge_draft_min_cluster": 3,
            "knowledge_draft_distance": 0.6,
        }
    )


@pytest.fixture
def svc(db, knowledge_settings, hash_encoder):
    """A fresh process-wide retrieval service with the hashing encoder, on an empty database."""
    from itsm_ai.engine import install
    from itsm_ai.knowledge.retrieval import service as retrieval

    install()
    service = retrieval.RetrievalService(encoder=hash_encoder, settings=knowledge_settings)
    service.watermarks.catch_up_seconds = 0.0
    retrieval.reset_service(service)
    yield service
    retrieval.reset_service(None)


@pytest.fixture
def kclient(svc, client):
    """The API client, with the test's retrieval service installed first."""
    return client
