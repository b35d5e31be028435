"""Per-user response cache: one Redis hash per user (`keys.response_cache(user_id)`), one
field per surface + parameters + variant. Deleting the hash invalidates everything of the
user (on their events and on erasure). Every Redis failure here is swallowed: the cache is
an optimisation and must never fail a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable

import orjson

from services.common.contracts import RecommendationResponse
from services.common.keys import Keys

log = logging.getLogger(__name__)

# After a user's events, their online features catch up asynchronously (pushed within
# about a second). Responses computed in that window may predate the events, so the
# invalidation leaves a marker and nothing is cached for the user until it expires.
HOLD_FIELD = "__hold_until"
HOLD_SECONDS = 2.0


def cache_field(
    surface: str, variant: str, k: int, product_ids: Iterable[str] = (), query: str | None = None
) -> str:
    """Stable field name for one request shape. Product order matters to the anchors, so it
    is kept; the query is hashed to keep fields short and free of separators."""
    q = hashlib.blake2b(query.encode(), digest_size=8).hexdigest() if query is not None else "-"
    products = ",".join(product_ids) or "-"
    return f"{surface}|{variant}|k={k}|p={products}|q={q}"


class ResponseCache:
    def __init__(self, redis, keys: Keys, ttl_seconds: float, timeout_seconds: float) -> None:
        self._redis, self._keys = redis, keys
        self.ttl, self._timeout = ttl_seconds, timeout_seconds

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def get(self, user_id: str, field: str) -> RecommendationResponse | None:
        if not self.enabled:
            return None
        try:
            raw = await asyncio.wait_for(
                self._redis.hget(self._keys.response_cache(user_id), field), self._timeout
            )
            if raw is None:
                return None
            entry = orjson.loads(raw)
            # The hash's TTL is refreshed by every write, so each field carries its own age.
            if time.time() - entry["ts"] > self.ttl:
                return None
            return RecommendationResponse.model_validate(entry["response"])
        except Exception as exc:  # noqa: BLE001 - a cache miss, never an error
            log.warning("response cache read failed", extra={"error": type(exc).__name__})
            return None

    async def put(self, user_id: str, field: str, response: RecommendationResponse) -> None:
        if not self.enabled:
            return
        key = self._keys.response_cache(user_id)
        now = time.time()
        value = orjson.dumps({"ts": now, "response": response.model_dump(mode="json")})
        try:
            hold = await asyncio.wait_for(self._redis.hget(key, HOLD_FIELD), self._timeout)
            if hold is not None and float(hold) > now:
                return
            pipe = self._redis.pipeline(transaction=False)
            pipe.hset(key, field, value)
            pipe.expire(key, max(1, int(self.ttl) + 1))
            await asyncio.wait_for(pipe.execute(), self._timeout)
        except Exception as exc:  # noqa: BLE001
            log.warning("response cache write failed", extra={"error": type(exc).__name__})

    async def invalidate(self, user_ids: Iterable[str], *, hold: bool = True) -> None:
        """Drop the users' cached responses; with `hold` (after events) also cache
        nothing for them for HOLD_SECONDS. Erasure passes hold=False: no key remains."""
        keys = [self._keys.response_cache(u) for u in set(user_ids)]
        if not keys:
            return
        try:
            # Not bounded by the short cache timeout: a batch can name many users, and this
            # runs after the durable write, off the recommendation path.
            await self._redis.delete(*keys)
            if hold:
                pipe = self._redis.pipeline(transaction=False)
                hold_until = time.time() + HOLD_SECONDS
                for key in keys:
                    pipe.hset(key, HOLD_FIELD, hold_until)
                    pipe.expire(key, int(HOLD_SECONDS) + 1)
                await pipe.execute()
        except Exception as exc:  # noqa: BLE001
            log.warning("response cache invalidation failed", extra={"error": type(exc).__name__})
