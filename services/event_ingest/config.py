"""event-ingest settings (environment variables; local defaults work)."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "event-ingest"
    port: int = 8001
    max_body_bytes: int = Field(2 * 1024 * 1024, description="Larger request bodies get 413.")
    history_limit: int = Field(1000, description="Most events one history answer returns.")
    catalog_refresh_seconds: float = Field(300.0, description="Reload of product -> category.")
    db_acquire_timeout_seconds: float = Field(
        2.0, description="Waiting longer for a pooled connection answers 503 (back-pressure)."
    )
    feast_push_enabled: bool = Field(
        True,
        description="Push the affected users' user_interests rows to Feast's online store "
        "after each commit (FEAST_PROJECT); erasure deletes the user's online row either way.",
    )
    feast_project: str = Field("recsys", description="Feast project of the online store.")
    known_variants: str = Field(
        "control",
        description="Comma-separated experiment variants used as metric labels; any other "
        "variant of an impression/click is counted as 'other' (bounded label values).",
    )

    @cached_property
    def variant_labels(self) -> frozenset[str]:
        return frozenset(v.strip() for v in self.known_variants.split(",") if v.strip())
