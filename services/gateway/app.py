"""Gateway app: public API, orchestration, API keys, response cache, degraded mode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.app import create_app, run
from services.common.cache import create_redis, ping
from services.common.http import DownstreamError, DownstreamRejected, ServiceClient
from services.gateway.cache import ResponseCache
from services.gateway.config import Settings
from services.gateway.fallback import FallbackStore
from services.gateway.orchestrator import Clients, Orchestrator, Timeouts
from services.gateway.routes import admin_router, router

log = logging.getLogger(__name__)


def _clients(settings: Settings, tracer_provider=None) -> Clients:
    def client(name: str, url: str, timeout: float) -> ServiceClient:
        return ServiceClient(
            name,
            url,
            timeout=timeout,
            max_connections=settings.http_max_connections,
            tracer_provider=tracer_provider,
        )

    return Clients(
        features=client(
            "feature_serving", settings.feature_serving_url, settings.features_timeout_seconds
        ),
        candidates=client(
            "candidate_gen", settings.candidate_gen_url, settings.candidates_timeout_seconds
        ),
        ranking=client("ranking", settings.ranking_url, settings.ranking_timeout_seconds),
        ingest=client("event_ingest", settings.event_ingest_url, settings.ingest_timeout_seconds),
    )


async def _health(client: ServiceClient, timeout: float) -> str:
    try:
        await client.request("GET", "/healthz", timeout=timeout)
        return "ok"
    except (DownstreamError, DownstreamRejected) as exc:
        return f"error: {exc}"


async def readiness(app: FastAPI) -> dict[str, str]:
    """Ready = able to serve every public endpoint, each check "ok":

    - `event_ingest`, `feature_serving`, `candidate_gen`, `ranking`: their /healthz (process
      up and reachable; deliberately not their /readyz, so one downstream warming up does not
      take every gateway pod out of rotation with it);
    - `fallback`: the degraded mode works, i.e. Redis answers a ping or a fallback list is
      held in memory (the cache is optional, so Redis alone is not a requirement). The
      message names both when it fails.
    """
    state = app.state
    settings: Settings = state.settings
    names = ("event_ingest", "feature_serving", "candidate_gen", "ranking")
    clients = state.clients
    results = await asyncio.gather(
        *(
            _health(c, settings.health_timeout_seconds)
            for c in (clients.ingest, clients.features, clients.candidates, clients.ranking)
        ),
        ping(state.redis),
    )
    checks = dict(zip(names, results[:4], strict=True))
    redis_status = results[4]
    if redis_status == "ok" or state.fallback.items:
        checks["fallback"] = "ok"
    else:
        checks["fallback"] = f"error: redis {redis_status}; no fallback list in memory"
    return checks


def build_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = create_redis(settings.redis_url)
        clients = _clients(settings, app.state.tracer_provider)
        fallback = FallbackStore(
            redis, settings.keys.fallback_items, settings.fallback_refresh_seconds
        )
        cache = ResponseCache(
            redis, settings.keys, settings.cache_ttl_seconds, settings.cache_timeout_seconds
        )
        if not await fallback.refresh():
            log.warning("starting without a fallback list; retrying in the background")
        fallback.start()
        app.state.redis, app.state.clients = redis, clients
        app.state.fallback, app.state.cache = fallback, cache
        app.state.orchestrator = Orchestrator(
            clients,
            fallback,
            cache,
            Timeouts(
                features=settings.features_timeout_seconds,
                candidates=settings.candidates_timeout_seconds,
                ranking=settings.ranking_timeout_seconds,
            ),
            candidate_limit=settings.candidate_limit,
        )
        try:
            yield
        finally:
            await fallback.stop()
            for client in clients.all():
                await client.aclose()
            await redis.aclose()

    return create_app(
        settings,
        title="recsys gateway",
        routers=[router, admin_router],
        lifespan=lifespan,
        readiness=readiness,
    )


app = build_app(Settings())


def main() -> None:
    run("services.gateway.app:app", Settings())
