"""candidate-gen in-process against real Postgres and Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest
import redis as sync_redis
from fastapi.testclient import TestClient

from services.candidate_gen.app import build_app
from services.candidate_gen.config import Settings
from services.common.contracts import CandidateResponse, RankedItem
from services.common.realtime import RealtimeEvent, apply_events

TAG = uuid.uuid4().hex[:6].upper()


def P(i: int) -> str:  # noqa: N802 - reads like a product id
    return f"CG{TAG}{i:02d}"


MAIN_E, MAIN_F = f"cg{TAG.lower()}electronics", f"cg{TAG.lower()}fashion"
PRODUCTS = [
    # i, name, main, sub, rating, n, discount, in_stock
    (1, "Wireless Bluetooth Earphones Pro", MAIN_E, "cg-headphones", 4.5, 100, 0.5, True),
    (2, "Noise Cancelling Over Ear Headphones", MAIN_E, "cg-headphones", 4.0, 50, 0.2, True),
    (3, "Smart LED Television 43 inch", MAIN_E, "cg-televisions", 4.2, 200, 0.35, True),
    (4, "Running Shoes Lightweight", MAIN_F, "cg-shoes", 3.9, 80, 0.6, True),
    (5, "Leather Wallet Slim", MAIN_F, "cg-accessories", 4.8, 10, 0.1, True),
    (6, "Gaming Laptop 16GB", MAIN_E, "cg-laptops", 4.6, 30, 0.15, True),
    (7, "Headphones Stand Aluminium", MAIN_E, "cg-headphones", 4.9, 500, 0.9, False),
    (8, "Trail Running Shoes Waterproof", MAIN_F, "cg-shoes", 4.1, 40, 0.3, True),
]
BASKETS = {
    "u1": [1, 2, 3],
    "u2": [1, 2],
    "u3": [1, 2, 4],
    "u4": [3, 4],
    "u5": [5],
}


def user_id(name: str) -> str:
    return f"cg-{TAG.lower()}-{name}"


async def _seed(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    now = datetime.now(UTC)
    try:
        await conn.executemany(
            "INSERT INTO products (product_id, name, main_category, sub_category, rating,"
            " no_of_ratings, price, actual_price, discount_ratio, in_stock)"
            " VALUES ($1, $2, $3, $4, $5, $6, 50, 100, $7, $8)",
            [(P(i), n, m, s, r, c, d, st) for i, n, m, s, r, c, d, st in PRODUCTS],
        )
        rows = [
            (f"cg-{TAG}-{u}-{i}", user_id(u), "purchase", P(i), now - timedelta(days=1))
            for u, items in BASKETS.items()
            for i in items
        ]
        rows.append((f"cg-{TAG}-old", user_id("u9"), "purchase", P(5), now - timedelta(days=200)))
        await conn.executemany(
            "INSERT INTO events (event_id, user_id, event_type, product_id, ts)"
            " VALUES ($1, $2, $3, $4, $5)",
            rows,
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def settings(pg_url, redis_url, redis_prefix):
    asyncio.run(_seed(pg_url))
    return Settings(
        database_url=pg_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        assoc_min_count=1,
        assoc_min_confidence=0.0,
        assoc_min_lift=1.0,
        trending_cache_seconds=0,
    )


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(build_app(settings)) as c:
        # something trending right now: product 8
        events = [
            RealtimeEvent(user_id("t"), "purchase", datetime.now(UTC), P(8), MAIN_F)
            for _ in range(3)
        ]
        c.portal.call(apply_events, c.app.state.store.redis, settings.keys, events)
        c.portal.call(c.app.state.store.refresh)
        yield c


def post(client, **body) -> CandidateResponse:
    resp = client.post("/v1/candidates", json=body)
    assert resp.status_code == 200, resp.text
    return CandidateResponse.model_validate(resp.json())


def mine(resp: CandidateResponse) -> list:
    return [c for c in resp.candidates if c.product_id.startswith(f"CG{TAG}")]


def test_ready_and_index_info(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json()["checks"] == {"redis": "ok", "postgres": "ok", "indexes": "ok"}
    info = client.get("/v1/indexes").json()
    assert info["loaded"] is True and info["items"] >= len(PRODUCTS) and info["rules"] > 0


def test_home_cold_start(client):
    resp = post(client, surface="home", limit=50)
    assert {c.source for c in resp.candidates} <= {
        "trending",
        "best_value",
        "top_category",
        "popular",
    }
    assert "best_value" in {c.source for c in resp.candidates}
    assert any(c.source == "trending" and c.product_id == P(8) for c in resp.candidates)
    assert len(resp.candidates) <= 50
    assert resp.model_versions["content"].startswith("tfidf-")
    assert resp.model_versions["association"].startswith("rules-")


def test_home_known_user(client):
    user = {
        "user_id": user_id("u2"),
        "known": True,
        "recent_items": [P(1)],
        "recent_queries": ["tv"],
        "category_affinity": {MAIN_E: 1.0},
    }
    resp = post(client, surface="home", user=user, limit=100)
    sources = {c.source for c in resp.candidates}
    assert {"content", "association", "search"} <= sources
    assoc = [c for c in resp.candidates if c.source == "association"]
    assert assoc[0].product_id == P(2) and assoc[0].anchor == P(1)
    assert P(1) not in {c.product_id for c in resp.candidates}


def test_product_surface_and_errors(client):
    resp = post(client, surface="product", product_ids=[P(1)], limit=20)
    assert P(2) in {c.product_id for c in mine(resp) if c.source == "content"}
    assert P(7) not in {c.product_id for c in resp.candidates}  # out of stock
    missing = client.post("/v1/candidates", json={"surface": "product", "product_ids": ["ZZ" * 5]})
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "product_not_found",
        "message": "product ZZZZZZZZZZ not found",
        "field": "product_ids",
    }
    for surface in ("product", "cart", "frequently_bought_together"):
        resp = client.post("/v1/candidates", json={"surface": surface})
        assert resp.status_code == 422 and resp.json()["error"]["field"] == "product_ids"
    resp = client.post("/v1/candidates", json={"surface": "search"})
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "query"
    resp = client.post("/v1/candidates", json={"surface": "home", "limit": 0})
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "limit"


def test_search_expansion_and_fallback(client):
    resp = post(client, surface="search", query="earbuds", limit=50)
    assert resp.expanded_query == ["earphones", "headphones"]
    assert {P(1), P(2)} <= {c.product_id for c in resp.candidates}
    assert resp.fallback_reason is None
    user = {"user_id": user_id("u2"), "known": True, "recent_items": [P(1)]}
    resp = post(client, surface="search", query="qqzzxxvv", user=user)
    assert resp.fallback_reason == "no_search_match"
    assert resp.candidates[0].source == "association" and resp.candidates[0].product_id == P(2)


def test_cart_and_bought_together(client):
    resp = post(client, surface="cart", product_ids=[P(2)], limit=10)
    assert resp.candidates[0].source == "association"
    assert resp.candidates[0].product_id == P(1)
    assert len(resp.candidates) <= 10
    resp = post(client, surface="frequently_bought_together", product_ids=[P(1)])
    assert resp.candidates[0].source == "association" and resp.fallback_reason is None
    assert resp.candidates[0].product_id == P(2)
    resp = post(client, surface="frequently_bought_together", product_ids=[P(6)])
    assert resp.fallback_reason == "no_association_rules"
    assert resp.candidates and {c.source for c in resp.candidates} <= {"content", "top_category"}


def test_fallback_list_in_redis(client, settings, redis_url):
    r = sync_redis.Redis.from_url(redis_url)
    items = orjson.loads(r.get(settings.keys.fallback_items))
    assert 0 < len(items) <= settings.fallback_items_count
    parsed = [RankedItem.model_validate(i) for i in items]
    assert parsed[0].sources == ["trending"]
    assert [i.position for i in parsed] == list(range(1, len(parsed) + 1))
    subs = [i.sub_category for i in parsed]
    assert max(subs.count(s) for s in subs) <= 3
    ours = {i.product_id: i for i in parsed if i.product_id.startswith(f"CG{TAG}")}
    assert ours[P(8)].reasons == [f"Trending in {MAIN_F}"]
    assert P(7) not in ours  # out of stock


def test_refresh_swaps_in_new_products(client, pg_url):
    new = P(50)

    async def add() -> None:
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute(
                "INSERT INTO products (product_id, name, main_category, sub_category)"
                " VALUES ($1, 'Bluetooth Earphones Lite', $2, 'cg-headphones')",
                new,
                MAIN_E,
            )
        finally:
            await conn.close()

    asyncio.run(add())
    before = client.post("/v1/candidates", json={"surface": "product", "product_ids": [new]})
    assert before.status_code == 404
    old = client.app.state.store.current
    assert client.portal.call(client.app.state.store.refresh) is True
    assert client.app.state.store.current is not old
    resp = post(client, surface="product", product_ids=[new])
    assert P(1) in {c.product_id for c in resp.candidates}


def test_metrics(client):
    post(client, surface="home", limit=5)
    text = client.get("/metrics").text
    assert 'recsys_candidates_total{source="' in text
