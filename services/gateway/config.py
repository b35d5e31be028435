"""Gateway settings. Environment only; every field below is an env variable (upper case,
or the alias shown)."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    # populate_by_name: tests and code pass `api_keys=...`; the environment uses the alias.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    service_name: str = "gateway"
    port: int = 8000

    # Auth (DESIGN section 5). repr=False keeps secrets out of logs and tracebacks.
    api_keys: str = Field(
        "dev-key",
        validation_alias="RECSYS_API_KEYS",
        repr=False,
        description="Comma-separated client API keys.",
    )
    admin_key: str = Field("dev-admin-key", validation_alias="RECSYS_ADMIN_KEY", repr=False)

    # Per-call downstream timeouts (seconds): the request budget is ~150 ms at p95, so the
    # optional feature read gets the least; a timeout degrades instead of failing.
    features_timeout_seconds: float = 0.15
    candidates_timeout_seconds: float = 0.4
    ranking_timeout_seconds: float = 0.4
    ingest_timeout_seconds: float = 2.0
    health_timeout_seconds: float = 0.5
    candidate_limit: int = Field(200, ge=1, le=1000)

    # Response cache (Redis hash per user). 0 disables it.
    cache_ttl_seconds: float = Field(30.0, ge=0, validation_alias="GATEWAY_CACHE_TTL_SECONDS")
    # Upper bound for a cache read/write: a slow Redis must not eat the latency budget.
    cache_timeout_seconds: float = 0.05

    # Degraded mode: how often the fallback list is re-read from Redis.
    fallback_refresh_seconds: float = Field(30.0, gt=0)

    # POST /v1/events: bodies above this are refused with 413 before reaching ingest.
    max_event_body_bytes: int = 2 * 1024 * 1024

    @cached_property
    def client_keys(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.api_keys.split(",") if k.strip())
