"""The one place settings are read: environment variables prefixed ITSM_ (and an optional .env file)."""

from functools import lru_cache
from pathlib import Path

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


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests clear the cache to change them)."""
    return Settings()
