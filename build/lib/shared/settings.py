"""Configuration from environment variables, one prefix per service (INTAKE_, ...)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings every service reads; a service subclasses it to set its prefix and port."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = Field(description="The service's name, also its CloudEvents source")
    environment: Literal["development", "test", "production"] = "development"
    role: Literal["all", "api", "relay", "consumer"] = Field(
        default="all",
        description="What this process runs: everything, or only the API, the outbox "
        "relay or the event consumer (to scale them apart)",
    )
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    data_dir: Path = Path(".run")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; an SQLite file in data_dir if unset"
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field(
        default="", description="Prepended to every topic name, to share one cluster"
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    relay_idle_seconds: float = Field(default=0.2, gt=0)
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_retry_backoff_seconds: float = Field(default=0.5, ge=0)
    credentials_file: Path | None = Field(
        default=None,
        description="The institutions and API-key hashes (python -m shared.identity)",
    )
    jwt_public_key_file: Path | None = Field(
        default=None, description="PEM key that verifies OAuth2 client-credentials JWTs"
    )
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    rate_limit_per_minute: int = Field(default=600, ge=1)
    idempotency_ttl_seconds: int = Field(default=86_400, ge=1)

    @model_validator(mode="after")
    def _no_development_credentials_elsewhere(self) -> "ServiceSettings":
        if self.environment != "development" and self.credentials_file is None:
            raise ValueError(
                "credentials_file must be set outside development: the built-in "
                "development keys are public"
            )
        return self

    @property
    def source(self) -> str:
        return f"/services/{self.service_name}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / self.service_name}.db"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
