"""Loads the catalog and interactions, builds `Indexes` off the event loop, swaps
them atomically, caches trending scores and publishes the fallback list.

A request reads `store.current` once and uses that object throughout, so a swap
never affects a request in flight; the old object is freed when the last request
using it finishes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np
import orjson
from redis.asyncio import Redis

from services.candidate_gen.config import Settings
from services.candidate_gen.fallback import fallback_items
from services.candidate_gen.indexes import (
    Catalog,
    Indexes,
    IndexParams,
    Interactions,
    build_indexes,
)
from services.candidate_gen.learned import Learned, ModelStore, bind
from services.candidate_gen.metrics import record_models
from services.candidate_gen.sources import TrendingSnapshot
from services.common.db import create_pool
from services.common.realtime import trending_scores
from services.common.signals import AFFINITY_DECAY_DAYS, EVENT_WEIGHTS

log = logging.getLogger(__name__)

PRODUCTS_SQL = """
SELECT product_id, name, main_category, sub_category, rating, no_of_ratings,
       price::float8 AS price, discount_ratio, in_stock, image
FROM products ORDER BY product_id
"""
# Weighted (signals.EVENT_WEIGHTS), decayed exp(-age_days / AFFINITY_DECAY_DAYS) sums
# per (user, product) over the last $4 days, aggregated in Postgres.
INTERACTIONS_SQL = """
SELECT e.user_id, e.product_id,
       sum(w.weight * exp(-greatest(extract(epoch FROM now() - e.ts), 0) / 86400.0 / $3))
         AS weight
FROM events e
JOIN unnest($1::text[], $2::float8[]) AS w(event_type, weight) ON w.event_type = e.event_type
WHERE e.ts >= now() - make_interval(days => $4) AND e.product_id IS NOT NULL
GROUP BY e.user_id, e.product_id
"""


def index_params(settings: Settings) -> IndexParams:
    return IndexParams(
        assoc_min_count=settings.assoc_min_count,
        assoc_min_confidence=settings.assoc_min_confidence,
        assoc_min_lift=settings.assoc_min_lift,
        assoc_top_n=settings.assoc_top_n,
        bayes_prior_count=settings.bayes_prior_count,
        top_category_size=settings.top_category_size,
    )


class IndexStore:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.pool: asyncpg.Pool | None = None
        self.current: Indexes | None = None
        self.learned: Learned | None = None  # always bound to `current`
        self.last_error: str | None = None
        cache = Path(settings.model_cache_dir) if settings.model_cache_dir else None
        self.models = ModelStore(settings.mlflow_tracking_uri, cache)
        self._trending: tuple[Indexes, float, TrendingSnapshot] | None = None
        self._trending_lock = asyncio.Lock()
        self._refresh_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    async def ensure_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            s = self.settings
            self.pool = await create_pool(s.database_url, min_size=1, max_size=s.db_pool_max)
        return self.pool

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def run(self) -> None:
        """Rebuild forever: every `index_refresh_seconds`, or sooner while none loaded."""
        while True:
            loaded = self.current is not None and self.current.n_items > 0
            s = self.settings
            await asyncio.sleep(s.index_refresh_seconds if loaded else s.index_retry_seconds)
            await self.refresh()

    async def refresh(self) -> bool:
        """Build new indexes and swap them in; keep the old ones on failure."""
        async with self._refresh_lock:
            started = time.perf_counter()
            try:
                catalog, interactions = await self.load()
                ix = await asyncio.to_thread(
                    build_indexes, catalog, interactions, index_params(self.settings)
                )
                learned = await asyncio.to_thread(bind, ix, self.models.models)
            except Exception as exc:  # noqa: BLE001 - keep serving the old indexes
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("index build failed", extra={"error": self.last_error})
                return False
            # The atomic swap: both in one step (no await between), so a request that
            # reads `current` then `learned` always gets a matching pair.
            self.current, self.learned = ix, learned
            self.last_error = None
            record_models(ix, self.models.models)
            log.info(
                "indexes built",
                extra={
                    "items": ix.n_items,
                    "rules": ix.rules.n_rules,
                    "seconds": round(time.perf_counter() - started, 3),
                },
            )
            await self.publish_fallback(ix)
            return True

    async def sync_models(self) -> bool:
        """Follow the registry's aliases; rebind and swap when a version moved."""
        if not await self.models.sync():
            return False
        async with self._refresh_lock:
            ix = self.current
            if ix is not None:
                self.learned = await asyncio.to_thread(bind, ix, self.models.models)
                record_models(ix, self.models.models)
        return True

    async def follow_models(self) -> None:
        while True:
            await self.sync_models()
            await asyncio.sleep(self.settings.model_poll_seconds)

    async def load(self) -> tuple[Catalog, Interactions]:
        pool = await self.ensure_pool()
        types = list(EVENT_WEIGHTS)
        weights = [EVENT_WEIGHTS[t] for t in types]
        async with pool.acquire() as conn:
            products = await conn.fetch(PRODUCTS_SQL)
            rows = await conn.fetch(
                INTERACTIONS_SQL,
                [str(t) for t in types],
                weights,
                AFFINITY_DECAY_DAYS,
                self.settings.interaction_days,
            )
        catalog = Catalog.from_rows([dict(r) for r in products])
        interactions = Interactions(
            [r["user_id"] for r in rows],
            [r["product_id"] for r in rows],
            np.array([r["weight"] for r in rows], dtype=float),
        )
        return catalog, interactions

    async def publish_fallback(self, ix: Indexes) -> None:
        try:
            snapshot = await self.trending(ix, force=True)
            items = fallback_items(
                ix,
                snapshot,
                size=self.settings.fallback_items_count,
                per_category=self.settings.fallback_per_category,
            )
            await self.redis.set(self.settings.keys.fallback_items, orjson.dumps(items))
        except Exception as exc:  # noqa: BLE001 - Redis is optional for serving
            log.warning("fallback list not written", extra={"error": f"{exc!r}"})

    # ------------------------------------------------------------------ trending

    async def trending(self, ix: Indexes, *, force: bool = False) -> TrendingSnapshot:
        """Trending scores from Redis, cached ~30 s per Indexes object. A Redis failure
        serves the last snapshot (or none: the trending source then uses popular)."""
        cached = self._trending
        if not force and cached and cached[0] is ix and cached[1] > time.monotonic():
            return cached[2]
        async with self._trending_lock:
            cached = self._trending
            if not force and cached and cached[0] is ix and cached[1] > time.monotonic():
                return cached[2]
            ttl = self.settings.trending_cache_seconds
            try:
                now = datetime.now(UTC)
                keys = self.settings.keys
                items = await trending_scores(self.redis, keys, now=now)
                cats = await trending_scores(self.redis, keys, categories=True, now=now)
                snapshot = TrendingSnapshot.build(ix, items, cats)
            except Exception as exc:  # noqa: BLE001
                log.warning("trending unavailable", extra={"error": f"{exc!r}"})
                snapshot = cached[2] if cached and cached[0] is ix else TrendingSnapshot.empty()
                ttl = min(ttl, 5.0)
            self._trending = (ix, time.monotonic() + ttl, snapshot)
            return snapshot
