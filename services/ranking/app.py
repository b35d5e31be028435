"""ranking: blend candidate scores with a weight profile, apply business rules,
explain every item (port 8004)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common import app as common_app
from services.common.http import ServiceClient
from services.ranking.config import Settings
from services.ranking.feature_cache import ItemFeatureCache
from services.ranking.profiles import load_profiles
from services.ranking.ranker import RankConfig
from services.ranking.routes import router
from services.ranking.rules import RuleConfig


def build_app(settings: Settings) -> FastAPI:
    profiles = load_profiles(settings.ranking_profiles_path)  # fail fast on a bad file
    config = RankConfig(
        rules=RuleConfig(
            max_per_category=settings.max_per_category,
            diversity_share=settings.diversity_share,
            relax_category_cap=settings.relax_category_cap,
        ),
        tie_break=settings.tie_break_weight,
        blocklist=frozenset(settings.blocklist),
        boosts=dict(settings.boosts),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.profiles = profiles
        app.state.rank_config = config
        app.state.feature_client = ServiceClient(
            "feature-serving",
            settings.feature_serving_url,
            timeout=settings.http_timeout_seconds,
            max_connections=settings.http_max_connections,
            tracer_provider=app.state.tracer_provider,
        )
        app.state.item_features = ItemFeatureCache(
            app.state.feature_client, settings.item_feature_cache_seconds
        )
        try:
            yield
        finally:
            await app.state.feature_client.aclose()

    async def readiness(app: FastAPI) -> dict[str, str]:
        client: ServiceClient = app.state.feature_client
        try:
            await client.request("GET", "/healthz", timeout=1.0)
            return {"feature_serving": "ok"}
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            return {"feature_serving": f"error: {exc}"}

    return common_app.create_app(
        settings,
        title="recsys ranking",
        routers=[router],
        lifespan=lifespan,
        readiness=readiness,
    )


app = build_app(Settings())


def main() -> None:
    common_app.run("services.ranking.app:app", Settings())


if __name__ == "__main__":
    main()
