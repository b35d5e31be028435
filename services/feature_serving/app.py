"""feature-serving: online user and item features from Redis (real-time state)
and Postgres (static item attributes, held in memory)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.app import create_app, run
from services.common.cache import create_redis, ping
from services.common.db import check_pool, create_pool
from services.common.tasks import background, refresh_forever
from services.feature_serving.catalog import ItemCatalog
from services.feature_serving.config import Settings
from services.feature_serving.routes import router
from services.feature_serving.store import RedisPostgresFeatureStore

log = logging.getLogger(__name__)


def build_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        redis = create_redis(settings.redis_url)
        catalog = ItemCatalog()

        async def refresh() -> None:
            async with pool.acquire(timeout=settings.db_acquire_timeout_seconds) as conn:
                await catalog.load(conn)

        try:
            await refresh()
            log.info("catalog loaded", extra={"products": len(catalog)})
        except Exception as exc:  # noqa: BLE001 - unknown ids are looked up on demand
            log.warning("catalog load failed", extra={"error_type": type(exc).__name__})
        app.state.pool, app.state.redis = pool, redis
        app.state.store = RedisPostgresFeatureStore(
            redis,
            settings.keys,
            pool,
            catalog,
            trending_ttl=settings.trending_cache_seconds,
            acquire_timeout=settings.db_acquire_timeout_seconds,
        )
        every = settings.catalog_refresh_seconds
        try:
            async with background(refresh_forever(every, refresh, what="catalog refresh")):
                yield
        finally:
            await redis.aclose()
            await pool.close()

    async def readiness(app: FastAPI) -> dict[str, str]:
        return {
            "postgres": await check_pool(app.state.pool, settings.db_acquire_timeout_seconds),
            "redis": await ping(app.state.redis),
        }

    return create_app(
        settings, title="feature-serving", routers=[router], lifespan=lifespan, readiness=readiness
    )


app = build_app(Settings())


def main() -> None:
    run("services.feature_serving.app:app", Settings())
