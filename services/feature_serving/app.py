"""feature-serving: online user and item features.

FEATURE_BACKEND=feast (default): Feast's online store in Redis (FeastFeatureStore).
FEATURE_BACKEND=redis: the interim store on the real-time Redis keys and Postgres
(RedisPostgresFeatureStore), kept for comparison. Routes see `FeatureStore` only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.app import create_app, run
from services.common.cache import create_redis, ping
from services.common.db import check_pool, create_pool
from services.common.tasks import background, kept_fresh, refresh_forever
from services.feature_serving.catalog import ItemCatalog
from services.feature_serving.config import Settings
from services.feature_serving.routes import router
from services.feature_serving.store import RedisPostgresFeatureStore

log = logging.getLogger(__name__)

# Until the registry has loaded once, retry this often (then feast_registry_refresh_seconds).
_REGISTRY_RETRY_SECONDS = 5.0


def feast_store_loader(settings: Settings):
    """A function returning the feast.FeatureStore of settings.feast_project (blocking)."""

    def load():
        from services.common.feast_config import get_store

        return get_store(settings.database_url, settings.redis_url, settings.feast_project)

    return load


@asynccontextmanager
async def _feast_lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    from services.feature_serving.feast_store import FeastFeatureStore

    redis = create_redis(settings.redis_url)
    store = FeastFeatureStore(redis, feast_store_loader(settings))
    app.state.redis, app.state.store = redis, store

    async def load() -> None:
        await store.load()

    try:
        await load()
        log.info("feast registry loaded", extra={"project": settings.feast_project})
    except Exception as exc:  # noqa: BLE001 - not ready until it loads; retried below
        log.warning("feast registry load failed", extra={"error_type": type(exc).__name__})

    async def keep_loaded() -> None:
        while store.layout is None:  # not ready yet (e.g. before `recsys feast-apply`)
            await asyncio.sleep(_REGISTRY_RETRY_SECONDS)
            try:
                await load()
            except Exception as exc:  # noqa: BLE001
                log.warning("feast registry load failed", extra={"error_type": type(exc).__name__})
        every = settings.feast_registry_refresh_seconds
        await refresh_forever(every, load, what="feast registry refresh")

    try:
        async with background(keep_loaded()):
            yield
    finally:
        await redis.aclose()


@asynccontextmanager
async def _redis_lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    pool = await create_pool(
        settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
    )
    redis = create_redis(settings.redis_url)
    catalog = ItemCatalog()

    async def load_catalog() -> None:
        async with pool.acquire(timeout=settings.db_acquire_timeout_seconds) as conn:
            await catalog.load(conn)
        log.info("catalog loaded", extra={"products": len(catalog)})

    app.state.pool, app.state.redis = pool, redis
    app.state.store = RedisPostgresFeatureStore(
        redis,
        settings.keys,
        pool,
        catalog,
        trending_ttl=settings.trending_cache_seconds,
        acquire_timeout=settings.db_acquire_timeout_seconds,
    )
    try:
        # Unknown ids are looked up on demand, so a failed first load is not fatal.
        async with kept_fresh(load_catalog, settings.catalog_refresh_seconds, what="catalog load"):
            yield
    finally:
        await redis.aclose()
        await pool.close()


def build_app(settings: Settings) -> FastAPI:
    feast = settings.feature_backend == "feast"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = _feast_lifespan if feast else _redis_lifespan
        async with opened(app, settings):
            yield

    async def readiness(app: FastAPI) -> dict[str, str]:
        if feast:
            return {
                "redis": await ping(app.state.redis),
                "feast_registry": app.state.store.registry_status(),
            }
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
