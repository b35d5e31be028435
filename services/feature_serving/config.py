"""feature-serving settings (environment variables; local defaults work)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "feature-serving"
    port: int = 8002
    catalog_refresh_seconds: float = Field(300.0, description="Reload of static item attributes.")
    trending_cache_seconds: float = Field(5.0, description="In-process cache of trending scores.")
    db_acquire_timeout_seconds: float = Field(
        2.0, description="Waiting longer for a pooled connection answers 503 (back-pressure)."
    )
