"""The one place settings are read: environment variables prefixed ITSM_ (and an optional .env file)."""

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
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
    # Connections vs. requests (issue 13): a request holds at most one connection, so admitting no more
    # requests than the pool holds (less a reserve for background threads) means none waits on the pool.
    database_pool_size: int = Field(default=10, ge=1, description="Connections kept open per process.")
    database_max_overflow: int = Field(
        default=30, ge=0, description="Extra connections opened under load (closed again when returned)."
    )
    database_pool_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for a connection before answering 503 Retry-After."
    )
    database_busy_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="SQLite: how long a writer waits for the write lock before answering 503 Retry-After.",
    )
    api_max_concurrent_requests: int = Field(
        default=32,
        ge=1,
        description="Requests handled at once per process; more wait (up to api_queue_timeout_seconds) for "
        "a slot. At most the pool (size + overflow) minus database_pool_reserve.",
    )
    database_pool_reserve: int = Field(
        default=8, ge=0, description="Connections kept for background threads (worker, index, reports)."
    )
    api_threads: int = Field(
        default=40, ge=1, description="Threads running sync endpoints and dependencies (anyio's limiter)."
    )
    api_queue_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A request waiting longer than this for a slot is answered 503."
    )
    api_retry_after_seconds: int = Field(default=2, ge=1, description="Retry-After of a 503 under overload.")
    api_keep_alive_seconds: float = Field(
        default=75.0,
        gt=0,
        description="How long `itsm-ai serve` keeps an idle HTTP connection open (uvicorn's default is 5 s). "
        "Longer than a client's pause between requests or a proxy's idle timeout (often 60 s): a server "
        "closing the connection just as the client reuses it resets that request.",
    )
    secret_key: str = Field(
        default="",
        description="Signs bearer tokens. Empty: a random key is generated once and kept in var/secret.key.",
    )
    access_token_minutes: int = 8 * 60
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    password_hash_concurrency: int = Field(
        default=0,
        ge=0,
        description="Password hashes (argon2: CPU and password_hash_memory_kib each) computed at once per "
        "process; more wait their turn. 0: the number of CPU cores.",
    )
    login_window_seconds: float = Field(
        default=900, gt=0, description="Sliding window of the login throttle (and the longest lock)."
    )
    login_max_failures_per_account: int = Field(
        default=5, ge=1, description="Failed logins of one account in the window before it is locked."
    )
    login_max_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins from one client address in the window before it waits."
    )
    login_known_address_days: int = Field(
        default=90,
        ge=0,
        description="An address the account signed in from within this many days may still log in while the "
        "account is locked (a guesser elsewhere cannot lock an admin out).",
    )
    session_cookie_secure: bool | None = Field(
        default=None,
        description="Secure flag of the web UI's session cookie: true behind a TLS-terminating proxy, false "
        "for plain HTTP; unset: secure when the request came over https.",
    )
    data_dir: Path = PROJECT_DIR / "var"
    models_dir: Path = PROJECT_DIR / "models"
    shared_data_dir: Path = Field(
        default=PROJECT_DIR.parent / "shared" / "data",
        description="The real data sets beside the repository: tests use slices (and skip without them), "
        "benchmarks the whole files. The service itself never needs them.",
    )
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="Sentence-embedding model of triage, retrieval and the chat; its name (and a hash of "
        "its weights) is recorded with every index and model built on its vectors, so a switch rebuilds the "
        "index and asks for the triage models to be retrained.",
    )
    embedding_model_path: Path | None = Field(
        default=None,
        description="Folder of the saved sentence-transformers model to load; default: the bundled package "
        "for all-MiniLM-L6-v2, else embedding_model itself as a folder (nothing is downloaded).",
    )
    embedding_backend: str = Field(
        default="torch", description="torch, onnx or openvino (sentence-transformers)."
    )
    embedding_batch_size: int = 64
    list_max_limit: int = 500
    max_extra_bytes: int = Field(
        default=64 * 1024, ge=2, description="Largest `extra` (free-form JSON of a record), serialized."
    )
    total_cache_seconds: float = 30.0
    demo_admin_password: str = "admin"
    cors_origins: list[str] = Field(
        default=[],
        description='Origins whose pages may call the API from a browser, e.g. ["https://portal.example"] '
        "(bearer tokens only: they never ride on the web UI's session cookie). Empty: no CORS headers.",
    )
    worker_interval_seconds: float = 5.0
    requester_may_set_critical: bool = Field(
        default=False, description="Requesters may open tickets with impact or urgency 1 (high)."
    )
    requester_may_set_category: bool = Field(
        default=False, description="Requesters may choose the category and subcategory of their tickets."
    )
    requester_extra_keys: list[str] = Field(
        default=[], description="Keys of `extra` requesters may set on their tickets (none by default)."
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Let webhooks (subscriptions and rule actions) target loopback, private, link-local, "
        "multicast and unspecified addresses; off by default, checked on save and after DNS at delivery.",
    )
    worker_in_process: bool | None = Field(
        default=None,
        description="Run background jobs inside the server; default: yes on SQLite, no otherwise.",
    )
    task_queue_url: str | None = Field(
        default=None,
        description="Where the task queue (huey) keeps its tasks: a sqlite:///, postgresql:// or redis:// "
        "URL (Redis needs the `redis` extra); default: the database itself (PostgreSQL: huey's tables in it; "
        "SQLite: a `<database>.tasks` file beside it).",
    )
    worker_threads: int = Field(default=2, ge=1, le=64, description="Task threads of each worker process.")
    training_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A training job whose worker sent no heartbeat for this long is claimed again (once).",
    )
    training_max_attempts: int = Field(
        default=2,
        ge=1,
        description="Claims of one training job (a retry after a dead worker) before it fails.",
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
    triage_selection_metric: dict[str, str] = Field(
        default={"assignment_group": "accuracy"},
        description="Per field: what the CV comparison of pipelines ranks by (macro_f1 or accuracy); "
        "unlisted fields use macro_f1. Routing is judged on accuracy, categories on macro-F1.",
    )
    triage_target_precision: float = 0.95
    triage_min_class_count: int = Field(
        default=5,
        description="Values with fewer labelled tickets are not learnt. Small learnt ones are ranked (top-3) "
        "but abstain until their own out-of-fold precision reaches the target; 5 is the least the threshold "
        "and calibration folds allow.",
    )
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
        description="model (the embedding_model) or hash (offline bag-of-words hashing: tests, no model).",
    )
    # Encoder fine-tuning (issue 19): contrastive training on the desk's confirmed pairs, time-boxed.
    encoder_train_max_seconds: float = Field(
        default=1800.0, gt=0, description="Training stops after this long (the steps done are kept)."
    )
    # Recipe chosen on the OpenOffice dev pairs (bench_encoder --dev, rule: best hybrid R@5, no topic P@5
    # loss): 3 epochs at 5e-5, batch 64, symmetric loss, WiSE-FT a=0.7: hybrid R@5 0.701, R@10 0.781, topic
    # P@5 0.719 (stock 0.719); a=1 0.696 / P@5 0.718; the earlier 2 epochs, batch 16, one-way: 0.686 / 0.716.
    # 1e-4 won the dev rule as the service now searches (collapsing confirmed duplicates: R@5 0.739 vs 0.729)
    # but, trained on all pairs, lost topic P@5 (0.717 vs stock 0.719): 5e-5 kept, which loses none (0.7195).
    encoder_train_epochs: int = Field(default=3, ge=1, le=20)
    encoder_train_batch_size: int = Field(
        default=64, ge=2, le=256, description="Pairs per step; the other pairs of a step are its negatives."
    )
    encoder_train_learning_rate: float = Field(default=5e-5, gt=0, le=1e-2)
    encoder_train_max_seq_length: int = Field(
        default=128, ge=16, le=512, description="Tokens per text while training (CPU cost grows with it)."
    )
    encoder_train_hard_negatives: bool = Field(
        default=False,
        description="Add each pair's mined hard negative (the base encoder's nearest text the pairs do not "
        "link to it); about 1.5x the time per step.",
    )
    encoder_train_symmetric_loss: bool = Field(
        default=True,
        description="Rank in both directions (each match's query among the batch's queries too).",
    )
    encoder_train_interpolation: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="WiSE-FT: the saved weights are (1 - a) * base + a * fine-tuned; below 1 keeps more of "
        "the base's general-domain quality.",
    )
    encoder_holdout_share: float = Field(
        default=0.2, ge=0, lt=1, description="Share of the pairs kept out of training to evaluate on."
    )
    encoder_shadow_pairs: int = Field(
        default=200, ge=1, le=100_000, description="Recent confirmed pairs the shadow evaluation reads."
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
    knowledge_collapse_duplicates: bool = Field(
        default=True,
        description="Similar-ticket search lists the master of a confirmed duplicate (duplicate_of, chains "
        "followed) instead of the duplicate, once, naming the duplicates it was reached through (`via`); a "
        "master the search's filters leave out (still open when resolved records are wanted) keeps the "
        "duplicate's own hit. On the OpenOffice dev pairs (training pairs as the known links, stock "
        "encoder) hybrid R@1/5/10 0.450/0.656/0.729 -> 0.482/0.696/0.764.",
    )
    knowledge_warm_on_startup: bool = True
    knowledge_catch_up_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A search looks for rows other processes wrote at most this often; on PostgreSQL their "
        "commits also signal it at once (LISTEN/NOTIFY).",
    )
    knowledge_similar_on_create: int = Field(default=3, description="Similar records stored on a new ticket.")
    knowledge_similar_min_score: float = Field(default=0.3, description="Cosine below this is not similar.")
    knowledge_fix_min_score: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        description="Cosine below which a similar ticket is listed without its resolution as a fix. "
        "On the demo's 245 Stack Exchange questions (all-MiniLM-L6-v2, question against question + answer), "
        "0.45 hides 28 of the 43 nearest fixes from another topic and 33 of 202 on-topic ones (0.3: 7 and "
        "2); it hides the 0.42 Outlook fix offered on a VPN ticket.",
    )
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
    # Chosen together on the development split only (bench_chat_scope --dev: real titles like the held-out
    # ones; CLINC150's oos_val and the out-of-fold scores of its oos_train): among the settings tried, the one
    # refusing the most out-of-scope queries while refusing about 1% of real titles. Refused dev titles /
    # out-of-scope (oos_val + oos_train out of fold, 200 queries): without nearest-example inputs at the 3%
    # quantile 0.6% / 93.5%, at 5% 1.6% / 95.5%; with them (weight 0.5) at 1.5% 1.2% / 95.5%; weight 1 at 1%
    # 1.8% / 96.5%. A status question like "what's the status of my ticket" reaches its intent.
    chat_scope_refuse_quantile: float = Field(
        default=0.015,
        ge=0,
        lt=1,
        description="Share of in-scope training examples (out of fold: the store's tickets, confirmed "
        "messages, the seed) the scope gate may refuse; sets the refuse threshold.",
    )
    chat_scope_ask_quantile: float = Field(
        default=0.04,
        ge=0,
        lt=1,
        description="Below this quantile of in-scope scores (and above the refuse threshold) the chat asks "
        "'Is this a problem you want help with?' instead of refusing.",
    )
    chat_scope_knn_weight: float = Field(
        default=0.5,
        ge=0,
        description="Weight of the scope gate's nearest-example inputs (similarity to the nearest in-scope "
        "and out-of-scope training example; MiniLM vectors, else TF-IDF); 0 leaves them out.",
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
    reports_timezone: str = Field(
        default="UTC", description="IANA time zone whose days, weeks and months reports count in by default."
    )
    reports_overlap_connections: int = Field(
        default=2,
        ge=0,
        description="Helper connections (of database_pool_reserve) that reports may hold at once in the "
        "process to run their independent walks together; 0 runs every walk on the request's connection. "
        "The default is cut to the reserve when that is smaller; a larger value given is an error.",
    )

    # Attachments (issue 20): bytes in a folder (or another storage), metadata in the database.
    attachment_dir: Path | None = Field(
        default=None, description="Where attachment bytes are kept; default <data_dir>/attachments."
    )
    attachment_max_file_bytes: int = Field(default=25 * 1024 * 1024, description="Largest single file.")
    attachment_max_record_bytes: int = Field(
        default=100 * 1024 * 1024, description="Largest total of the attachments of one ticket or article."
    )
    attachment_denied_extensions: list[str] = Field(
        default=[
            "exe",
            "dll",
            "com",
            "scr",
            "pif",
            "cpl",
            "msi",
            "msp",
            "bat",
            "cmd",
            "ps1",
            "psm1",
            "vbs",
            "vbe",
            "js",
            "jse",
            "wsf",
            "wsh",
            "hta",
            "jar",
            "lnk",
            "reg",
            "sh",
            "app",
            "elf",
            "so",
            "dylib",
        ],
        description="File name endings refused on upload (lower case, no dot).",
    )
    attachment_denied_types: list[str] = Field(
        default=[
            "application/x-dosexec",
            "application/x-msdownload",
            "application/vnd.microsoft.portable-executable",
            "application/x-executable",
            "application/x-elf",
            "application/x-sharedlib",
            "application/x-mach-binary",
            "application/x-msi",
            "application/x-ms-installer",
            "text/x-shellscript",
            "application/java-archive",
            "application/x-ms-shortcut",
            "application/hta",
        ],
        description="Content types (sniffed from the bytes) refused on upload.",
    )
    attachment_orphan_grace_minutes: float = Field(
        default=60.0,
        description="A stored file without a row this old is swept (an upload that never committed).",
    )
    attachment_sweep_interval_minutes: float = 60.0

    # Inbound mail (issue 20): SMTP receiver and IMAP polling.
    mail_address: str = Field(
        default="helpdesk@localhost", description="The service's own address: mail from it is never a ticket."
    )
    mail_aliases: list[str] = Field(default=[], description="More addresses of the service (never tickets).")
    mail_domain: str = Field(default="itsm-ai.local", description="Right-hand side of generated Message-IDs.")
    mail_default_type: Literal["incident", "service_request"] = "incident"
    mail_routes: dict[str, str] = Field(
        default={},
        description='Recipient address -> record type, e.g. {"requests@example.com": "service_request"}.',
    )
    mail_subject_rules: list[dict[str, str]] = Field(
        default=[],
        description='Subject regex -> record type, first match wins: [{"pattern": "(?i)^order", '
        '"record_type": "service_request"}] (checked after mail_routes).',
    )
    mail_unknown_senders: Literal["create", "refuse"] = Field(
        default="create",
        description="A sender without an account: create a requester for them, or refuse with a reply.",
    )
    mail_bulk_creates_tickets: bool = Field(
        default=False,
        description="Precedence: bulk/junk/list mail opens tickets (never auto-replied); off: ignored "
        "(RFC 3834).",
    )
    mail_reopen_resolved: bool = Field(default=True, description="A reply to a resolved ticket reopens it.")
    mail_max_message_bytes: int = Field(default=30 * 1024 * 1024, description="Larger mail is dead-lettered.")
    mail_max_parts: int = Field(default=200, description="More MIME parts than this is dead-lettered.")
    mail_max_unpacked_bytes: int = Field(
        default=200 * 1024 * 1024, description="An attached archive that unpacks to more is a bomb."
    )
    mail_max_compression_ratio: float = Field(default=100.0, description="Archive bomb ratio threshold.")
    mail_rate_limit_count: int = Field(default=20, description="Mails one sender may send per window.")
    mail_rate_limit_minutes: float = 60.0
    mail_spool_dir: Path | None = Field(
        default=None, description="Received, unprocessed mail; default <data_dir>/mail/spool."
    )
    mail_dead_letter_dir: Path | None = Field(
        default=None,
        description="Mail that could not be taken in, with the reason; default <data_dir>/mail/dead-letter.",
    )
    mail_intake_torch_threads: int = Field(
        default=1,
        ge=0,
        description="PyTorch intra-op threads of an intake process (0: PyTorch's default). Intake runs one "
        "thread per worker; a second thread inside each embedding oversubscribes the CPUs.",
    )
    mail_smtpd_host: str = "127.0.0.1"
    mail_smtpd_port: int = 2525
    mail_imap_host: str | None = Field(
        default=None, description="IMAP server to poll (unset: polling is off)."
    )
    mail_imap_port: int = 993
    mail_imap_ssl: bool = True
    mail_imap_starttls: bool = False
    mail_imap_user: str | None = None
    mail_imap_password: str | None = None
    mail_imap_folder: str = "INBOX"
    mail_imap_done_folder: str = Field(default="Processed", description="Where taken-in mail is moved.")
    mail_imap_dead_folder: str = Field(default="Dead Letter", description="Where refused mail is moved.")
    mail_imap_batch: int = 50
    mail_imap_timeout_seconds: float = 30.0

    # Notifications (issue 20): outbound mail from the transactional outbox.
    mail_from: str = Field(default="", description="From: of outgoing mail; default mail_address.")
    mail_smtp_host: str | None = Field(
        default=None, description="SMTP relay for notifications (unset: not sent)."
    )
    mail_smtp_port: int = 25
    mail_smtp_security: Literal["none", "starttls", "tls"] = "none"
    mail_smtp_user: str | None = None
    mail_smtp_password: str | None = None
    mail_smtp_timeout_seconds: float = 30.0
    mail_smtp_ca_file: Path | None = Field(
        default=None, description="CA bundle to verify the relay's certificate (default: the system's)."
    )
    mail_base_url: str = Field(default="http://127.0.0.1:8000", description="Links in notifications.")
    notification_max_attempts: int = 8
    notification_backoff_seconds: float = 30.0
    notification_backoff_cap_seconds: float = 3600.0

    @model_validator(mode="after")
    def _requests_fit_the_pool(self) -> "Settings":
        room = self.database_pool_size + self.database_max_overflow - self.database_pool_reserve
        if self.api_max_concurrent_requests > room:
            raise ValueError(
                f"api_max_concurrent_requests: {self.api_max_concurrent_requests} is more than the pool "
                f"holds for requests ({room} = database_pool_size + database_max_overflow - "
                "database_pool_reserve): requests would wait on the pool"
            )
        given = "reports_overlap_connections" in self.model_fields_set
        if given and self.reports_overlap_connections > self.database_pool_reserve:
            raise ValueError(
                "reports_overlap_connections: may not exceed database_pool_reserve (the helper connections "
                "come from the reserve, not from the requests' share of the pool)"
            )
        if self.api_max_concurrent_requests > self.api_threads:
            raise ValueError("api_max_concurrent_requests: may not exceed api_threads")
        if not given:
            reserve = self.database_pool_reserve
            self.reports_overlap_connections = min(self.reports_overlap_connections, reserve)
        return self


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests clear the cache to change them)."""
    return Settings()
