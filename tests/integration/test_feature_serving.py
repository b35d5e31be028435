"""feature-serving against real Postgres and Redis (in-process app), interim backend
(FEATURE_BACKEND=redis: the real-time keys). The Feast backend: test_feature_serving_feast."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import redis as sync_redis
from fastapi.testclient import TestClient

from services.common.realtime import RealtimeEvent, apply_events, trending_scores
from services.feature_serving.app import build_app
from services.feature_serving.config import Settings

TAG = uuid.uuid4().hex[:6].upper()
A, B, C = (f"FS{TAG}{i:02d}" for i in range(3))
LATE = f"FL{TAG}99"
CATS = {A: "fs-tv", B: "fs-audio", C: "fs-home", LATE: "fs-late"}


async def _insert(pg_url: str, ids: list[str]) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.executemany(
            "INSERT INTO products (product_id, name, main_category, sub_category, image,"
            " price, actual_price, discount_ratio, rating, no_of_ratings, in_stock)"
            " VALUES ($1, $2, $3, $4, $5, 80.5, 100, 0.195, 4.1, 12, $6)",
            [
                (p, f"name {p}", CATS[p], f"{CATS[p]}-sub", f"https://img/{p}.jpg", p != C)
                for p in ids
            ],
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def client(pg_url, redis_url, redis_prefix):
    asyncio.run(_insert(pg_url, [A, B, C]))
    settings = Settings(
        database_url=pg_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        feature_backend="redis",
        trending_cache_seconds=0,
    )
    with TestClient(build_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def keys(client):
    return client.app.state.settings.keys


@pytest.fixture(scope="module")
def r(redis_url):
    return sync_redis.Redis.from_url(redis_url, decode_responses=True)


def apply(client, keys, events: list[RealtimeEvent]) -> None:
    client.portal.call(apply_events, client.app.state.redis, keys, events)


def ev(uid, event_type, minutes_ago, product_id=None, query=None) -> RealtimeEvent:
    return RealtimeEvent(
        user_id=uid,
        event_type=event_type,
        ts=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        product_id=product_id,
        category=CATS.get(product_id),
        query=query,
    )


def test_user_features_after_events(client, keys):
    uid = f"fs-{uuid.uuid4().hex[:10]}"
    apply(
        client,
        keys,
        [
            ev(uid, "view", 10, A),
            ev(uid, "purchase", 5, B),
            ev(uid, "search", 1, query="speaker"),
            ev(uid, "remove_from_cart", 3, C),  # negative home interest: clipped away
        ],
    )
    resp = client.post("/v1/features/users", json={"user_ids": [uid, "fs-nobody"]})
    assert resp.status_code == 200, resp.text
    known, unknown = resp.json()["users"]
    assert known["user_id"] == uid and known["known"] is True
    assert known["recent_items"] == [B, A]  # newest first; removals are not interest
    assert known["recent_queries"] == ["speaker"]
    assert known["purchased"] == [B]
    assert known["event_counts"] == {"view": 1, "purchase": 1, "search": 1, "remove_from_cart": 1}
    affinity = known["category_affinity"]
    assert list(affinity) == ["fs-audio", "fs-tv"]
    assert sum(affinity.values()) == pytest.approx(1.0)
    assert affinity["fs-audio"] == pytest.approx(5 / 6, rel=1e-3)
    last = datetime.fromisoformat(known["last_active"])
    assert timedelta(0) < datetime.now(UTC) - last < timedelta(minutes=2)
    assert unknown == {
        "user_id": "fs-nobody",
        "known": False,
        "recent_items": [],
        "recent_queries": [],
        "purchased": [],
        "category_affinity": {},
        "event_counts": {},
        "last_active": None,
    }


def test_item_features_static_popularity_trending_missing(client, keys, r, pg_url):
    uid = f"fs-{uuid.uuid4().hex[:10]}"
    apply(
        client,
        keys,
        [ev(uid, "purchase", 2, A), ev(uid, "add_to_cart", 2, A), ev(uid, "view", 1, B)],
    )
    asyncio.run(_insert(pg_url, [LATE]))  # not in memory yet: direct query
    ids = [B, "ZZZZZZZZZ0", A, LATE, C]
    resp = client.post("/v1/features/items", json={"product_ids": ids})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["missing"] == ["ZZZZZZZZZ0"]
    items = {i["product_id"]: i for i in body["items"]}
    assert [i["product_id"] for i in body["items"]] == [B, A, LATE, C]

    a = items[A]
    assert (a["name"], a["main_category"], a["sub_category"]) == (f"name {A}", "fs-tv", "fs-tv-sub")
    assert a["image"] == f"https://img/{A}.jpg"
    assert (a["price"], a["actual_price"], a["rating"], a["no_of_ratings"]) == (
        80.5,
        100.0,
        4.1,
        12,
    )
    assert a["discount_ratio"] == pytest.approx(0.195)
    assert a["in_stock"] is True and items[C]["in_stock"] is False

    top = r.zrevrange(keys.popularity, 0, 0, withscores=True)[0][1]
    for pid in (A, B):
        assert items[pid]["popularity"] == pytest.approx(r.zscore(keys.popularity, pid) / top)
        assert 0 < items[pid]["popularity"] <= 1
    assert items[A]["popularity"] > items[B]["popularity"]
    assert items[LATE]["popularity"] == 0.0 and items[LATE]["trending"] == 0.0

    trending = client.portal.call(trending_scores, client.app.state.redis, keys)
    best = max(trending.values())
    for pid in (A, B):
        assert items[pid]["trending"] == pytest.approx(trending[pid] / best, rel=1e-6)
    assert items[A]["trending"] > items[B]["trending"]


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/v1/features/users", {"user_ids": ["bad id"]}, "user_ids[0]"),
        ("/v1/features/users", {"user_ids": []}, "user_ids"),
        ("/v1/features/users", {"user_ids": ["u1"], "x": 1}, "x"),
        ("/v1/features/items", {"product_ids": ["B00", "b000000001"]}, "product_ids[0]"),
        ("/v1/features/items", {"product_ids": ["A"] * 1001}, "product_ids"),
    ],
)
def test_validation_errors(client, path, payload, field):
    resp = client.post(path, json=payload)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == field
    assert resp.json()["error"]["code"] == "validation_error"


def test_malformed_json_is_400(client):
    resp = client.post(
        "/v1/features/items", content=b"{", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json"


def test_ready(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json()["checks"] == {"postgres": "ok", "redis": "ok"}


def test_redis_down_users_503_items_degrade(pg_url, redis_prefix, client):
    broken = Settings(
        database_url=pg_url,
        redis_url="redis://127.0.0.1:1/0",
        redis_prefix=redis_prefix,
        feature_backend="redis",
    )
    with TestClient(build_app(broken)) as c:
        resp = c.post("/v1/features/users", json={"user_ids": ["u1"]})
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "unavailable"
        resp = c.post("/v1/features/items", json={"product_ids": [A]})
        assert resp.status_code == 200
        item = resp.json()["items"][0]
        assert item["name"] == f"name {A}" and item["popularity"] == 0.0
        assert c.get("/readyz").status_code == 503
