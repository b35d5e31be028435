"""After a user's events the gateway caches nothing for them for a moment: their online
features are pushed asynchronously, and a response computed before the push lands
must not be served for the whole TTL."""

import redis.asyncio as aioredis

from services.common.contracts import RecommendationResponse
from services.common.keys import Keys
from services.gateway.cache import HOLD_SECONDS, ResponseCache

RESP = RecommendationResponse(request_id="r1", user_id="h1", surface="home", items=[])


async def test_no_caching_during_the_hold_and_erasure_leaves_no_key(redis_url, redis_prefix):
    client = aioredis.from_url(redis_url)
    keys = Keys(f"{redis_prefix}hold:")
    cache = ResponseCache(client, keys, ttl_seconds=30, timeout_seconds=1.0)
    try:
        await cache.put("h1", "f", RESP)
        assert await cache.get("h1", "f") == RESP
        await cache.invalidate(["h1"])  # events arrived
        await cache.put("h1", "f", RESP)  # computed before the push landed: not kept
        assert await cache.get("h1", "f") is None
        assert 0 < await client.ttl(keys.response_cache("h1")) <= int(HOLD_SECONDS) + 1
        await cache.invalidate(["h1"], hold=False)  # erasure
        assert not await client.exists(keys.response_cache("h1"))
    finally:
        await client.aclose()
