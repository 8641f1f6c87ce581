"""The one place settings are read: environment variables prefixed ITSM_ (and an optional .env file)."""

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ITSM_<FIELD> in the environment."""

    model_config = SettingsConfigDict(env_prefix="ITSM_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_DIR / 'var' / 'itsm.db'}",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://... in production.",
    )
    database_echo: bool = False
    secret_key: str = Field(
        default="",
        description="Signs bearer tokens. Empty: a random key is generated once and kept in var/secret.key.",
    )
    access_token_minutes: int = 8 * 60
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    data_dir: Path = PROJECT_DIR / "var"
    models_dir: Path = PROJECT_DIR / "models"
    shared_data_dir: Path = PROJECT_DIR.parent / "shared" / "data"
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_backend: str = Field(
        default="torch", description="torch, onnx or openvino (sentence-transformers)."
    )
    embedding_batch_size: int = 64
    list_max_limit: int = 500
    total_cache_seconds: float = 30.0
    demo_admin_password: str = "admin"
    cors_origins: list[str] = []
    worker_interval_seconds: float = 5.0
    worker_in_process: bool | None = Field(
        default=None,
        description="Run background jobs inside the server; default: yes on SQLite, no otherwise.",
    )
    # Triage (issue 4): which ticket fields get model suggestions, and how.
    triage_targets: list[str] = Field(
        default=["category", "priority", "assignment_group"],
        description="Ticket fields with a triage model (the model of a field has the field's name).",
    )
    triage_modes: dict[str, str] = Field(
        default={},
        description='Per field: off, suggest or auto, e.g. {"category": "auto"}; unlisted fields use '
        "triage_default_mode. auto applies the value only when it clears the class threshold.",
    )
    triage_default_mode: str = "suggest"
    triage_record_types: list[str] = Field(
        default=["incident", "service_request"], description="Ticket types that get suggestions on create."
    )
    triage_features: str = Field(
        default="auto", description="Training features: tfidf, embedding, both, or auto (compare by CV)."
    )
    triage_target_precision: float = 0.95
    triage_min_class_count: int = 30
    triage_evidence: int = 3
    triage_train_params: dict[str, Any] = Field(
        default={},
        description='Extra TriageClassifier parameters for every training, e.g. {"char_ngram_range": null} '
        "(about 5x faster TF-IDF training, a little less accurate).",
    )

    # Knowledge (issue 5): retrieval index, similar tickets, duplicates, major incidents, article drafting.
    knowledge_index_dir: Path | None = Field(
        default=None, description="Where the vector index is saved; default <data_dir>/index."
    )
    knowledge_encoder: str = Field(
        default="model",
        description="model (all-MiniLM-L6-v2) or hash (offline bag-of-words hashing: tests, no model).",
    )
    knowledge_index_types: list[str] = ["incident", "problem", "knowledge_article"]
    knowledge_exact_threshold: int = Field(
        default=20_000, description="Exact search up to this many vectors, HNSW above."
    )
    knowledge_hnsw_m: int = 32
    knowledge_ef_construction: int = 200
    knowledge_ef_search: int = 128
    knowledge_save_interval_seconds: float = 60.0
    # Similar-ticket ranking; defaults chosen on the dev pairs of openoffice_duplicates.csv by
    # benchmarks/bench_similar.py (which reports these settings' test recall next to the alternatives).
    knowledge_bm25_k1: float = Field(default=1.6, description="BM25 term-frequency saturation.")
    knowledge_bm25_b: float = Field(default=1.0, description="BM25 document-length normalisation.")
    knowledge_bm25_title_weight: int = Field(default=2, description="Times a title term counts in BM25.")
    knowledge_hybrid_fusion: Literal["rrf", "zscore", "minmax"] = Field(
        default="zscore",
        description="How hybrid search merges dense and BM25 results: reciprocal rank fusion, or a weighted "
        "sum of z-scored / min-max scaled scores over the candidates.",
    )
    knowledge_hybrid_dense_weight: float = 1.0
    knowledge_hybrid_lexical_weight: float = 0.33
    knowledge_hybrid_rrf_k: int = Field(default=60, description="RRF constant (fusion rrf only).")
    knowledge_hybrid_candidates: int = Field(default=100, description="Candidates per side before fusion.")
    knowledge_warm_on_startup: bool = True
    knowledge_similar_on_create: int = Field(default=3, description="Similar records stored on a new ticket.")
    knowledge_similar_min_score: float = Field(default=0.3, description="Cosine below this is not similar.")
    knowledge_duplicate_threshold: float = Field(
        default=0.85, description="Cosine to an open incident above which a new one is a likely duplicate."
    )
    knowledge_major_incident_count: int = Field(
        default=5, description="Similar incidents opened within the window that make a major incident."
    )
    knowledge_major_incident_threshold: float = 0.75
    knowledge_major_incident_window_minutes: int = 60
    knowledge_major_incident_create_problem: bool = Field(
        default=False, description="Create the problem at once instead of suggesting it."
    )
    knowledge_draft_min_cluster: int = 3
    knowledge_draft_distance: float = 0.35
    knowledge_draft_max_tickets: int = 5000
    knowledge_gap_coverage: float = 0.6
    knowledge_llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint for the generative drafter (unset: extractive)."
    )
    knowledge_llm_api_key: str | None = None
    knowledge_llm_model: str | None = None
    knowledge_llm_timeout_seconds: float = 30.0

    # Virtual agent (issues 6, 18): intent detector, scope gate and chat flows.
    chat_intent_embeddings: bool = Field(
        default=True,
        description="Add MiniLM sentence embeddings to the intent detector's features (falls back to TF-IDF "
        "only when the model package is missing).",
    )
    chat_intent_threshold: float | None = Field(
        default=None, description="Scope-gate score below which a message is refused (unset: calibrated)."
    )
    chat_scope_refuse_quantile: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description="Share of in-scope training examples (out of fold: the store's tickets, confirmed "
        "messages, the seed) the scope gate may refuse; sets the refuse threshold.",
    )
    chat_scope_ask_quantile: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="Below this quantile of in-scope scores (and above the refuse threshold) the chat asks "
        "'Is this a problem you want help with?' instead of refusing.",
    )
    chat_languages: list[str] = Field(
        default=["en", "de"],
        description="Languages the intent examples cover (ISO 639-1); a message in another language goes to "
        "the problem flow, never to a refusal.",
    )
    chat_train_max_tickets: int = Field(
        default=5000, ge=0, description="Newest incidents, and newest requests, the detector learns from."
    )
    chat_train_bundled_tickets: bool = Field(
        default=True, description="Also learn from the demo's real help-desk tickets (itsm_ai/demo/)."
    )
    chat_retrain_min_new: int = Field(
        default=20, ge=1, description="New tickets or confirmed messages before the detector is retrained."
    )
    chat_retrain_growth: float = Field(
        default=0.1,
        ge=0,
        description="...and at least this share of the store examples the current version learned from.",
    )
    chat_retrain_check_seconds: float = Field(
        default=300, ge=0, description="How often the worker checks whether the detector should be retrained."
    )
    chat_intent_margin: float = Field(
        default=0.15, description="Ask a clarifying question when the top two intents are this close."
    )
    chat_train_on_startup: bool = Field(
        default=True, description="At startup, retrain the detector in the background when the store grew."
    )
    chat_answers: int = Field(default=3, description="Answers the chat shows for a problem or question.")
    chat_abandon_minutes: int = Field(
        default=60, description="A conversation waiting on the user this long ends as abandoned."
    )

@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests clear the cache to change them)."""
    return Settings()
