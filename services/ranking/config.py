"""ranking settings (environment variables, local defaults that work)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "ranking"
    port: int = 8004

    ranking_profiles_path: str | None = Field(
        None,
        description="JSON file (env RANKING_PROFILES_PATH) merged over the built-in "
        "services/ranking/profiles.json: same shape, its profiles and surface defaults win.",
    )
    max_per_category: int = Field(3, ge=1, description="Items per sub_category in one list.")
    diversity_share: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of slots reserved for unrepresented categories."
    )
    relax_category_cap: bool = Field(
        True, description="Exceed the per-category cap only when fewer than k would remain."
    )
    tie_break_weight: float = Field(0.01, ge=0.0, description="Popularity added to break ties.")
    blocklist: list[str] = Field(default_factory=list, description="Product ids never returned.")
    boosts: dict[str, float] = Field(
        default_factory=dict, description="Product id -> score added after blending."
    )
    item_feature_cache_seconds: float = Field(
        10.0,
        ge=0.0,
        description="How long fetched item features are reused (0: fetch every request). "
        "Catalog attributes and popularity move slowly; trending within minutes.",
    )
