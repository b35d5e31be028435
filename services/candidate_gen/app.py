"""candidate-gen: retrieval sources over in-memory indexes (port 8003)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.candidate_gen.config import Settings
from services.candidate_gen.routes import router
from services.candidate_gen.store import IndexStore
from services.common import app as common_app
from services.common.cache import create_redis, ping


def build_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = create_redis(settings.redis_url)
        store = IndexStore(settings, redis)
        app.state.store = store
        await store.refresh()  # on failure the loop below retries; readiness says why
        task = asyncio.create_task(store.run(), name="index-refresh")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.close()
            await redis.aclose()

    async def readiness(app: FastAPI) -> dict[str, str]:
        store: IndexStore = app.state.store
        checks = {"redis": await ping(store.redis)}
        try:
            pool = await store.ensure_pool()
            await pool.fetchval("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            checks["postgres"] = f"error: {type(exc).__name__}"
        ix = store.current
        if ix is None:
            checks["indexes"] = f"not loaded: {store.last_error}"
        else:  # the item count itself is at GET /v1/indexes
            checks["indexes"] = "ok" if ix.n_items > 0 else "empty catalog (0 items)"
        return checks

    return common_app.create_app(
        settings,
        title="recsys candidate-gen",
        routers=[router],
        lifespan=lifespan,
        readiness=readiness,
    )


app = build_app(Settings())


def main() -> None:
    common_app.run("services.candidate_gen.app:app", Settings())


if __name__ == "__main__":
    main()
