"""feature-serving on Feast's online store (FEATURE_BACKEND=feast), against real
Postgres (offline store, SQL registry) and Redis (online store), in-process apps.

The fixture applies the feature repo to a project of this run's own, ingests events
through event-ingest (Postgres + real-time Redis state), materialises the batch views
and pushes product stats; then the Feast backend must answer what the interim backend
(FEATURE_BACKEND=redis, the real-time keys) answers for the same data.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import redis as sync_redis
from fastapi.testclient import TestClient

from services.event_ingest.app import build_app as build_ingest
from services.event_ingest.config import Settings as IngestSettings
from services.event_ingest.feast_push import online_user_key
from services.feature_serving.app import build_app
from services.feature_serving.config import Settings
from tests.conftest import RUN_ID

pytest.importorskip("feast")

TAG = uuid.uuid4().hex[:6].upper()
A, B, C, D = (f"FF{TAG}{i:02d}" for i in range(4))
CATS = {A: "ff-tv", B: "ff-audio", C: "ff-home", D: "ff-audio"}
PROJECT = f"recsys_test_{RUN_ID}"


async def _insert_products(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.executemany(
            "INSERT INTO products (product_id, name, main_category, sub_category, image,"
            " price, actual_price, discount_ratio, rating, no_of_ratings, in_stock)"
            " VALUES ($1, $2, $3, $4, $5, 80.5, 100, 0.195, 4.1, 12, $6)",
            [
                (
                    p,
                    f"name {p}",
                    CATS[p],
                    f"{CATS[p]}-sub",
                    f"https://img/{p}.jpg" if p != D else None,
                    p != C,
                )
                for p in CATS
            ],
        )
    finally:
        await conn.close()


def _ev(uid: str, event_type: str, minutes_ago: float, product_id=None, query=None) -> dict:
    ts = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    body = {"user_id": uid, "event_type": event_type, "ts": ts.isoformat()}
    if product_id:
        body["product_id"] = product_id
    if query:
        body["query"] = query
    return body


U1, U2 = f"ff1-{TAG.lower()}", f"ff2-{TAG.lower()}"
EVENTS = [
    _ev(U1, "view", 50, A),
    _ev(U1, "purchase", 40, B),
    _ev(U1, "click", 30, D),
    _ev(U1, "search", 20, query="speaker"),
    _ev(U1, "view", 10, A),
    _ev(U2, "add_to_cart", 15, C),
    _ev(U2, "view", 12, B),
]


@pytest.fixture(scope="module")
def pg_url(pg_server_url):
    """This module's own database: popularity and trending are shares of the maximum
    over all products, so other tests' products must not be in it."""
    import asyncio

    from deploy.local.infra import create_database, drop_database, with_database
    from services.common.db import migrate

    name = f"recsys_ff_{RUN_ID}"
    asyncio.run(create_database(pg_server_url, name))
    url = with_database(pg_server_url, name)
    asyncio.run(migrate(url))
    yield url
    asyncio.run(drop_database(pg_server_url, name))


@pytest.fixture(scope="module")
def redis_prefix(redis_prefix):
    """Under the run's prefix (removed at the end), apart from other modules' keys."""
    return f"{redis_prefix}ff:"


@pytest.fixture(scope="module")
def feast_repo(pg_url, redis_url, redis_prefix):
    """Applied, materialised project of this run; its online keys removed afterwards."""
    import asyncio

    from ml import feature_store as fs

    asyncio.run(_insert_products(pg_url))
    store = fs.get_store(pg_url, redis_url, PROJECT)
    fs.apply(store)
    # The base data goes in without pushes: what is read below is the materialisation.
    ingest = IngestSettings(
        database_url=pg_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        feast_project=PROJECT,
        feast_push_enabled=False,
    )
    with TestClient(build_ingest(ingest)) as c:
        resp = c.post("/v1/events", json={"events": EVENTS})
        assert resp.status_code == 200 and resp.json()["accepted"] == len(EVENTS), resp.text
    now = datetime.now(UTC)
    fs.materialize(now - timedelta(days=365), now, store=store, count_rows=False)
    assert fs.push_product_stats(store, redis_url, prefix=redis_prefix, now=now) > 0
    yield store
    fs.delete_online_keys(PROJECT, redis_url)


def _serving(pg_url, redis_url, redis_prefix, backend: str, project: str = PROJECT) -> Settings:
    return Settings(
        database_url=pg_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        feature_backend=backend,
        feast_project=project,
        trending_cache_seconds=0,
    )


@pytest.fixture(scope="module")
def client(feast_repo, pg_url, redis_url, redis_prefix):
    with TestClient(build_app(_serving(pg_url, redis_url, redis_prefix, "feast"))) as c:
        yield c


@pytest.fixture(scope="module")
def interim(feast_repo, pg_url, redis_url, redis_prefix):
    with TestClient(build_app(_serving(pg_url, redis_url, redis_prefix, "redis"))) as c:
        yield c


@pytest.fixture(scope="module")
def ingest(feast_repo, pg_url, redis_url, redis_prefix):
    settings = IngestSettings(
        database_url=pg_url, redis_url=redis_url, redis_prefix=redis_prefix, feast_project=PROJECT
    )
    with TestClient(build_ingest(settings)) as c:
        yield c


def _users(c, ids):
    resp = c.post("/v1/features/users", json={"user_ids": ids})
    assert resp.status_code == 200, resp.text
    return resp.json()["users"]


def test_ready(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json()["checks"] == {"redis": "ok", "feast_registry": "ok"}


def test_user_features_match_the_contract(client, interim):
    feast_u1, feast_u2, nobody = _users(client, [U1, U2, "ff-nobody"])
    assert feast_u1["known"] is True
    assert feast_u1["recent_items"] == [A, D, B]  # most recent first, distinct
    assert feast_u1["recent_queries"] == ["speaker"]
    assert feast_u1["purchased"] == [B]
    # 7-day counts by type (user_activity); both views of the user from one hash
    assert feast_u1["event_counts"] == {"view": 2, "purchase": 1, "click": 1, "search": 1}
    affinity = feast_u1["category_affinity"]
    assert list(affinity) == ["ff-audio", "ff-tv"]  # purchase 5 + click 1 vs 2 views
    assert sum(affinity.values()) == pytest.approx(1.0, abs=1e-5)
    last = datetime.fromisoformat(feast_u1["last_active"])
    # the seeded event is 10 min old when seeded; a slow (loaded) run only adds to it
    assert timedelta(minutes=9) < datetime.now(UTC) - last < timedelta(minutes=30)
    assert nobody == {
        "user_id": "ff-nobody",
        "known": False,
        "recent_items": [],
        "recent_queries": [],
        "purchased": [],
        "category_affinity": {},
        "event_counts": {},
        "last_active": None,
    }
    # The same values as the interim backend on the real-time keys of the same events.
    for got, want in zip((feast_u1, feast_u2), _users(interim, [U1, U2]), strict=True):
        assert got["recent_items"] == want["recent_items"]
        assert got["recent_queries"] == want["recent_queries"]
        assert got["purchased"] == want["purchased"]
        assert got["event_counts"] == want["event_counts"]
        assert got["category_affinity"] == pytest.approx(want["category_affinity"], abs=1e-5)
        assert datetime.fromisoformat(got["last_active"]) == pytest.approx(
            datetime.fromisoformat(want["last_active"]), abs=timedelta(milliseconds=1)
        )


def test_item_features_match_the_contract(client, interim):
    ids = [B, "ZZZZZZZZZ0", A, D, C, A]
    resp = client.post("/v1/features/items", json={"product_ids": ids})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["missing"] == ["ZZZZZZZZZ0"]
    assert [i["product_id"] for i in body["items"]] == [B, A, D, C, A]
    items = {i["product_id"]: i for i in body["items"]}
    a = items[A]
    assert (a["name"], a["main_category"], a["sub_category"]) == (f"name {A}", "ff-tv", "ff-tv-sub")
    assert (a["image"], items[D]["image"]) == (f"https://img/{A}.jpg", None)
    assert (a["price"], a["actual_price"], a["rating"], a["no_of_ratings"]) == (
        80.5,
        100.0,
        4.1,
        12,
    )
    assert a["discount_ratio"] == pytest.approx(0.195)
    assert a["in_stock"] is True and items[C]["in_stock"] is False
    assert items[B]["popularity"] == 1.0  # the purchase: the top of the run's products
    assert 0 < items[A]["popularity"] < 1 and items[A]["trending"] > 0

    want = interim.post("/v1/features/items", json={"product_ids": ids}).json()
    assert want["missing"] == body["missing"]
    for got, exp in zip(body["items"], want["items"], strict=True):
        assert got == pytest.approx(exp, abs=1e-5)


def test_push_then_read_within_a_second(client, ingest):
    fresh = f"FF{TAG}99"
    before = _users(client, [U2])[0]
    assert before["recent_items"][0] != A
    resp = ingest.post("/v1/events", json={"user_id": U2, "event_type": "click", "product_id": A})
    assert resp.status_code == 200 and resp.json()["accepted"] == 1, resp.text
    deadline = time.monotonic() + 1.0
    while True:
        user = _users(client, [U2])[0]
        if user["recent_items"][:1] == [A] or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert user["recent_items"] == [A, B, C]
    assert user["known"] is True
    assert datetime.now(UTC) - datetime.fromisoformat(user["last_active"]) < timedelta(seconds=5)
    # an unknown product is refused by ingest: nothing pushed for it
    resp = ingest.post(
        "/v1/events", json={"user_id": U2, "event_type": "click", "product_id": fresh}
    )
    assert resp.status_code == 422


def test_push_for_a_new_user(client, ingest):
    uid = f"ff-new-{uuid.uuid4().hex[:8]}"
    resp = ingest.post(
        "/v1/events", json={"user_id": uid, "event_type": "purchase", "product_id": D}
    )
    assert resp.status_code == 200, resp.text
    ingest.portal.call(ingest.app.state.pusher.flush)
    user = _users(client, [uid])[0]
    assert user["known"] is True
    assert (user["recent_items"], user["purchased"]) == ([D], [D])
    assert user["category_affinity"] == {"ff-audio": 1.0}
    assert user["event_counts"] == {}  # user_activity is materialised, not pushed


def test_erasure_removes_online_features(client, ingest, redis_url):
    uid = f"ff-erase-{uuid.uuid4().hex[:8]}"
    resp = ingest.post("/v1/events", json={"user_id": uid, "event_type": "view", "product_id": B})
    assert resp.status_code == 200, resp.text
    ingest.portal.call(ingest.app.state.pusher.flush)
    r = sync_redis.Redis.from_url(redis_url)
    key = online_user_key(PROJECT, uid)
    assert r.exists(key) and _users(client, [uid])[0]["known"] is True

    resp = ingest.delete(f"/v1/users/{uid}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["keys_deleted"] == 4  # recent, affinity, counts + the online row
    assert not r.exists(key)
    assert _users(client, [uid])[0] == {
        "user_id": uid,
        "known": False,
        "recent_items": [],
        "recent_queries": [],
        "purchased": [],
        "category_affinity": {},
        "event_counts": {},
        "last_active": None,
    }
    # a materialised user too: its online row (both user views) goes
    assert r.exists(online_user_key(PROJECT, U1))
    assert ingest.delete(f"/v1/users/{U1}").status_code == 200
    assert not r.exists(online_user_key(PROJECT, U1))
    assert _users(client, [U1])[0]["known"] is False


def test_unapplied_project_is_not_ready(feast_repo, pg_url, redis_url, redis_prefix):
    settings = _serving(pg_url, redis_url, redis_prefix, "feast", project=f"nope_{RUN_ID}")
    with TestClient(build_app(settings)) as c:
        resp = c.get("/readyz")
        assert resp.status_code == 503
        assert resp.json()["checks"]["redis"] == "ok"
        assert resp.json()["checks"]["feast_registry"] != "ok"
        resp = c.post("/v1/features/users", json={"user_ids": ["u1"]})
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "unavailable"


def test_redis_down_is_503(feast_repo, pg_url, redis_prefix):
    # The registry is in Postgres, so it loads; the Redis reads then fail cleanly.
    settings = _serving(pg_url, "redis://127.0.0.1:1/0", redis_prefix, "feast")
    with TestClient(build_app(settings)) as c:
        for path, body in (
            ("/v1/features/users", {"user_ids": ["u1"]}),
            ("/v1/features/items", {"product_ids": [A]}),
        ):
            resp = c.post(path, json=body)
            assert resp.status_code == 503, resp.text
            assert resp.json()["error"]["code"] == "unavailable"
        checks = c.get("/readyz").json()["checks"]
        assert checks["feast_registry"] == "ok" and checks["redis"] != "ok"
