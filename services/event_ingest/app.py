"""event-ingest: validates events, writes them durably to Postgres, then updates
the real-time Redis state; also user history and erasure."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.app import create_app, run
from services.common.cache import create_redis, ping
from services.common.db import check_pool, create_pool
from services.common.tasks import kept_fresh
from services.event_ingest.catalog import CategoryMap
from services.event_ingest.config import Settings
from services.event_ingest.feast_push import InterestsPusher
from services.event_ingest.routes import router

log = logging.getLogger(__name__)


def feast_store_loader(settings: Settings):
    """A function returning the feast.FeatureStore of settings.feast_project (blocking)."""

    def load():
        from services.common.feast_config import get_store

        return get_store(settings.database_url, settings.redis_url, settings.feast_project)

    return load


def build_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        redis = create_redis(settings.redis_url)
        catalog = CategoryMap()

        async def load_catalog() -> None:
            async with pool.acquire(timeout=settings.db_acquire_timeout_seconds) as conn:
                await catalog.load(conn)
            log.info("catalog loaded", extra={"products": len(catalog)})

        app.state.pool, app.state.redis, app.state.catalog = pool, redis, catalog
        pusher = InterestsPusher(redis, settings.keys, feast_store_loader(settings))
        app.state.pusher = pusher
        every = settings.catalog_refresh_seconds
        try:
            # Unknown ids are looked up on demand, so a failed first load is not fatal.
            async with kept_fresh(load_catalog, every, what="catalog load"):
                if settings.feast_push_enabled:
                    pusher.start()
                yield
        finally:
            await pusher.stop()
            await redis.aclose()
            await pool.close()

    async def readiness(app: FastAPI) -> dict[str, str]:
        return {
            "postgres": await check_pool(app.state.pool, settings.db_acquire_timeout_seconds),
            "redis": await ping(app.state.redis),
        }

    return create_app(
        settings, title="event-ingest", routers=[router], lifespan=lifespan, readiness=readiness
    )


app = build_app(Settings())


def main() -> None:
    run("services.event_ingest.app:app", Settings())
