"""candidate-gen: retrieval sources over in-memory indexes (port 8003)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.candidate_gen.config import Settings
from services.candidate_gen.routes import router
from services.candidate_gen.store import IndexStore
from services.common import app as common_app
from services.common.cache import create_redis, ping

log = logging.getLogger(__name__)


def build_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = create_redis(settings.redis_url)
        store = IndexStore(settings, redis)
        app.state.store = store
        await store.refresh()  # on failure the loop below retries; readiness says why
        tasks = [asyncio.create_task(store.run(), name="index-refresh")]
        if store.models.enabled:  # the first sync runs here; readiness waits for it
            tasks.append(asyncio.create_task(store.follow_models(), name="model-registry"))
        else:
            log.info("MLFLOW_TRACKING_URI not set: heuristic sources only")
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
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
        models = store.models
        if models.enabled:
            checks["models"] = "ok" if models.synced else f"not synced: {models.last_error}"
        return checks

    def loaded_models(app: FastAPI) -> dict:
        store: IndexStore = app.state.store
        loaded = {
            alias: {source: m.ref.label for source, m in by_source.items()}
            for alias, by_source in store.models.models.items()
        }
        return {"models": loaded, "registry": store.models.tracking_uri}

    return common_app.create_app(
        settings,
        title="recsys candidate-gen",
        routers=[router],
        lifespan=lifespan,
        readiness=readiness,
        readiness_details=loaded_models,
    )


app = build_app(Settings())


def main() -> None:
    common_app.run("services.candidate_gen.app:app", Settings())


if __name__ == "__main__":
    main()
