"""candidate-gen settings (environment variables, local defaults that work)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "candidate-gen"
    port: int = 8003

    # Index lifecycle
    index_refresh_seconds: float = Field(600.0, description="Rebuild the indexes this often.")
    index_retry_seconds: float = Field(15.0, description="Retry interval while none is loaded.")
    interaction_days: int = Field(90, description="Events older than this are not loaded.")
    trending_cache_seconds: float = Field(30.0, description="In-process trending cache TTL.")

    # Learned models (MLflow registry, aliases champion/challenger). Unset: heuristic
    # sources only (and the rules mined with the indexes).
    mlflow_tracking_uri: str | None = Field(None, description="MLflow server, e.g. :5000.")
    model_poll_seconds: float = Field(30.0, gt=0, description="Check the aliases this often.")
    model_cache_dir: str | None = Field(None, description="Downloaded versions (default tmp).")
    semantic_min_similarity: float = Field(
        0.35, ge=0.0, le=1.0, description="Semantic search: minimum cosine of a match."
    )

    # Association rules ("users who clicked X also clicked Y")
    assoc_min_count: int = Field(2, ge=1, description="Minimum co-occurring users of a pair.")
    assoc_min_confidence: float = Field(0.05, ge=0.0, le=1.0)
    assoc_min_lift: float = Field(1.0, ge=0.0)
    assoc_top_n: int = Field(50, ge=1, description="Consequents kept per antecedent.")

    # Cold-start / category sources
    bayes_prior_count: float = Field(
        25.0, gt=0, description="Pseudo-ratings at the global mean in the Bayesian average."
    )
    top_category_size: int = Field(100, ge=1, description="Items kept per category.")
    fallback_items_count: int = Field(100, ge=1, description="Items in the degraded-mode list.")
    fallback_per_category: int = Field(3, ge=1)
