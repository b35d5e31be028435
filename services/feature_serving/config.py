"""feature-serving settings (environment variables; local defaults work)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "feature-serving"
    port: int = 8002
    feature_backend: Literal["feast", "redis"] = Field(
        "feast",
        description="feast: Feast's Redis online store (project FEAST_PROJECT); redis: the "
        "interim store on the real-time Redis keys and Postgres (kept for comparison).",
    )
    feast_project: str = Field("recsys", description="Feast project whose features are served.")
    feast_registry_refresh_seconds: float = Field(
        60.0, description="Reload of the Feast registry (feature view layout)."
    )
    catalog_refresh_seconds: float = Field(300.0, description="Reload of static item attributes.")
    trending_cache_seconds: float = Field(5.0, description="In-process cache of trending scores.")
    db_acquire_timeout_seconds: float = Field(
        2.0, description="Waiting longer for a pooled connection answers 503 (back-pressure)."
    )
