"""The online feature store interface and its Redis + Postgres implementation.

Routes depend on `FeatureStore` only; a later issue swaps in Feast behind it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import asyncpg
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.contracts import ItemFeatures, UserFeatures
from services.common.db import connection
from services.common.errors import ApiError
from services.common.keys import Keys
from services.common.realtime import trending_scores
from services.common.signals import RECENT_ITEMS_CAP, RECENT_QUERIES_CAP, affinity_scale
from services.feature_serving.catalog import ItemCatalog
from services.feature_serving.features import (
    category_affinity,
    decode_list,
    event_counts,
    normalise,
)

log = logging.getLogger(__name__)

REDIS_DEGRADED = Counter(
    "recsys_feature_redis_failures", "Feature reads that failed on Redis", ["kind"]
)
_REDIS_ERRORS = (RedisError, OSError, TimeoutError)


class FeatureStore(Protocol):
    async def get_user_features(self, user_ids: Sequence[str]) -> list[UserFeatures]: ...

    async def get_item_features(
        self, product_ids: Sequence[str]
    ) -> tuple[list[ItemFeatures], list[str]]:
        """(features of known products in request order, unknown ids)."""
        ...


class TrendingCache:
    """trending_scores (a ZUNION over 48 hourly buckets) for a few seconds, with its max.
    One refresh at a time; on a Redis failure the previous scores are served."""

    def __init__(self, redis: Redis, keys: Keys, ttl: float) -> None:
        self._redis, self._keys, self._ttl = redis, keys, ttl
        self._scores: dict[str, float] = {}
        self._max = 0.0
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> tuple[dict[str, float], float]:
        if time.monotonic() - self._at < self._ttl:
            return self._scores, self._max
        async with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                try:
                    scores = await trending_scores(self._redis, self._keys)
                    self._scores, self._max = scores, max(scores.values(), default=0.0)
                finally:
                    # Also after a failure: do not hammer a struggling Redis.
                    self._at = time.monotonic()
        return self._scores, self._max


class RedisPostgresFeatureStore:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        pool: asyncpg.Pool,
        catalog: ItemCatalog,
        *,
        trending_ttl: float = 5.0,
        acquire_timeout: float = 2.0,
    ) -> None:
        self.redis, self.keys, self.pool, self.catalog = redis, keys, pool, catalog
        self.trending = TrendingCache(redis, keys, trending_ttl)
        self.acquire_timeout = acquire_timeout

    async def get_user_features(self, user_ids: Sequence[str]) -> list[UserFeatures]:
        pipe = self.redis.pipeline(transaction=False)
        for uid in user_ids:
            pipe.zrevrange(self.keys.recent_items(uid), 0, RECENT_ITEMS_CAP - 1)
            pipe.lrange(self.keys.recent_queries(uid), 0, RECENT_QUERIES_CAP - 1)
            pipe.smembers(self.keys.purchased(uid))
            pipe.hgetall(self.keys.affinity(uid))
            pipe.hgetall(self.keys.counts(uid))
        try:
            replies = await pipe.execute()  # one round trip for all users
        except _REDIS_ERRORS as exc:
            REDIS_DEGRADED.labels("user").inc()
            log.warning("user features: redis failed", extra={"error_type": type(exc).__name__})
            raise ApiError(503, "unavailable", "real-time features unavailable") from None
        scale = affinity_scale(datetime.now(UTC))
        out = []
        for i, uid in enumerate(user_ids):
            recent, queries, purchased, affinity, counts_raw = replies[5 * i : 5 * i + 5]
            counts, last_active = event_counts(counts_raw)
            out.append(
                UserFeatures(
                    user_id=uid,
                    known=bool(counts),
                    recent_items=decode_list(recent),
                    recent_queries=decode_list(queries),
                    purchased=sorted(decode_list(purchased)),
                    category_affinity=category_affinity(affinity, scale),
                    event_counts=counts,
                    last_active=last_active,
                )
            )
        return out

    async def get_item_features(
        self, product_ids: Sequence[str]
    ) -> tuple[list[ItemFeatures], list[str]]:
        if any(self.catalog.get(p) is None for p in product_ids):
            async with connection(self.pool, self.acquire_timeout) as conn:
                await self.catalog.fetch_missing(conn, product_ids)
        statics = [(p, self.catalog.get(p)) for p in product_ids]
        missing = [p for p, s in statics if s is None]
        known = [(p, s) for p, s in statics if s is not None]
        if not known:
            return [], missing
        ids = [p for p, _ in known]
        popularity, trending = await self._dynamic(ids)
        items = [
            ItemFeatures(**static, popularity=pop, trending=trend)
            for (_, static), pop, trend in zip(known, popularity, trending, strict=True)
        ]
        return items, missing

    async def _dynamic(self, ids: list[str]) -> tuple[list[float], list[float]]:
        """Normalised popularity and trending. Redis trouble degrades to zeros (or the
        last cached trending scores): static attributes still serve the ranker."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.zmscore(self.keys.popularity, ids)
            pipe.zrevrange(self.keys.popularity, 0, 0, withscores=True)
            scores, top = await pipe.execute()
            popularity = normalise(scores, top[0][1] if top else None)
        except _REDIS_ERRORS as exc:
            REDIS_DEGRADED.labels("popularity").inc()
            log.warning("item popularity: redis failed", extra={"error_type": type(exc).__name__})
            popularity = [0.0] * len(ids)
        try:
            trend_scores, trend_max = await self.trending.get()
        except _REDIS_ERRORS as exc:
            REDIS_DEGRADED.labels("trending").inc()
            log.warning("item trending: redis failed", extra={"error_type": type(exc).__name__})
            trend_scores, trend_max = {}, 0.0
        trending = normalise([trend_scores.get(p) for p in ids], trend_max)
        return popularity, trending
