"""Configuration from environment variables only, with local defaults that work."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.keys import Keys


class ServiceSettings(BaseSettings):
    """Settings every service shares. Services subclass this and add their own."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = "recsys"
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/recsys"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "recsys:"
    db_pool_min: int = 1
    db_pool_max: int = 10
    # Downstream services (gateway -> the rest, ranking -> feature-serving, ...).
    event_ingest_url: str = "http://127.0.0.1:8001"
    feature_serving_url: str = "http://127.0.0.1:8002"
    candidate_gen_url: str = "http://127.0.0.1:8003"
    ranking_url: str = "http://127.0.0.1:8004"
    http_timeout_seconds: float = Field(1.0, description="Default per-call timeout.")
    http_max_connections: int = 100
    shutdown_grace_seconds: float = 5.0
    # OpenTelemetry (services/common/tracing.py): TRACING_ENABLED=true/false; unset = on
    # exactly when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set. Everything else: OTEL_*.
    tracing_enabled: bool | None = None

    @cached_property
    def keys(self) -> Keys:
        return Keys(self.redis_prefix)
