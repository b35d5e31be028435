import time

import orjson

from services.common.contracts import RecommendationResponse
from services.common.keys import Keys
from services.gateway.cache import ResponseCache, cache_field


def test_cache_field_distinguishes_every_parameter():
    base = cache_field("home", "control", 10)
    variants = {
        base,
        cache_field("product", "control", 10),
        cache_field("home", "treatment", 10),
        cache_field("home", "control", 11),
        cache_field("home", "control", 10, ["B000000001"]),
        cache_field("home", "control", 10, ["B000000001", "B000000002"]),
        cache_field("home", "control", 10, ["B000000002", "B000000001"]),
        cache_field("home", "control", 10, query="shoes"),
        cache_field("home", "control", 10, query="shoe"),
    }
    assert len(variants) == 9
    assert cache_field("search", "control", 5, query="a|b") == cache_field(
        "search", "control", 5, query="a|b"
    )
    assert "user" not in base  # the user is the hash key, not part of the field


def test_cache_key_is_the_users_hash():
    assert Keys("p:").response_cache("u1") == "p:user:u1:cache"


class FakeRedis:
    def __init__(self):
        self.data: dict[str, dict[str, bytes]] = {}
        self.fail = False

    async def hget(self, key, field):
        if self.fail:
            raise ConnectionError("down")
        return self.data.get(key, {}).get(field)

    def pipeline(self, transaction=False):
        redis = self

        class Pipe:
            def __init__(self):
                self.ops = []

            def hset(self, key, field, value):
                self.ops.append((key, field, value))

            def expire(self, key, ttl):
                pass

            async def execute(self):
                if redis.fail:
                    raise ConnectionError("down")
                for key, field, value in self.ops:
                    redis.data.setdefault(key, {})[field] = value

        return Pipe()

    async def delete(self, *keys):
        if self.fail:
            raise ConnectionError("down")
        for key in keys:
            self.data.pop(key, None)


RESP = RecommendationResponse(request_id="r1", user_id="u1", surface="home", items=[])


async def test_put_get_invalidate_and_failures():
    redis = FakeRedis()
    cache = ResponseCache(redis, Keys("p:"), ttl_seconds=30, timeout_seconds=0.5)
    await cache.put("u1", "f", RESP)
    assert (await cache.get("u1", "f")) == RESP
    assert await cache.get("u2", "f") is None
    await cache.invalidate(["u1"])
    assert await cache.get("u1", "f") is None
    redis.fail = True
    await cache.put("u1", "f", RESP)  # swallowed
    assert await cache.get("u1", "f") is None
    await cache.invalidate(["u1"])


async def test_expired_entry_is_a_miss_and_ttl_zero_disables():
    redis = FakeRedis()
    cache = ResponseCache(redis, Keys("p:"), ttl_seconds=30, timeout_seconds=0.5)
    old = {"ts": time.time() - 31, "response": RESP.model_dump(mode="json")}
    redis.data["p:user:u1:cache"] = {"f": orjson.dumps(old)}
    assert await cache.get("u1", "f") is None
    off = ResponseCache(redis, Keys("p:"), ttl_seconds=0, timeout_seconds=0.5)
    await off.put("u2", "f", RESP)
    assert "p:user:u2:cache" not in redis.data
