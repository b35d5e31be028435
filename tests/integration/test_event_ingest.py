"""event-ingest against real Postgres and Redis (in-process app)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest
import redis as sync_redis
from fastapi.testclient import TestClient

from services.common.keys import Keys
from services.common.realtime import trending_scores
from services.event_ingest.app import build_app
from services.event_ingest.config import Settings

TAG = uuid.uuid4().hex[:6].upper()
P = [f"EI{TAG}{i:02d}" for i in range(6)]  # 10 chars, [A-Z0-9]
CATS = ["ei-tv", "ei-audio", "ei-tv", "ei-home", "ei-home", "ei-audio"]
LATE = f"EL{TAG}99"  # inserted after the app started


def now() -> datetime:
    return datetime.now(UTC)


async def _insert(pg_url: str, ids: list[str], cats: list[str]) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.executemany(
            "INSERT INTO products (product_id, name, main_category, sub_category, price)"
            " VALUES ($1, $2, $3, $4, 10)",
            [(p, f"product {p}", c, f"{c}-sub") for p, c in zip(ids, cats, strict=True)],
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def settings(pg_url, redis_url, redis_prefix) -> Settings:
    asyncio.run(_insert(pg_url, P, CATS))
    return Settings(database_url=pg_url, redis_url=redis_url, redis_prefix=redis_prefix)


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(build_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def r(redis_url):
    return sync_redis.Redis.from_url(redis_url, decode_responses=True)


@pytest.fixture(scope="module")
def keys(settings) -> Keys:
    return settings.keys


def db(client, method: str, sql: str, *args):
    pool = client.app.state.pool
    return client.portal.call(getattr(pool, method), sql, *args)


def user() -> str:
    return f"ei-{uuid.uuid4().hex[:12]}"


def view(uid: str, pid: str = P[0], **kw) -> dict:
    return {"user_id": uid, "event_type": "view", "product_id": pid, **kw}


def count_rows(client, uid: str) -> tuple[int, int]:
    return (
        db(client, "fetchval", "SELECT count(*) FROM events WHERE user_id = $1", uid),
        db(client, "fetchval", "SELECT count(*) FROM event_ids WHERE user_id = $1", uid),
    )


def assert_error(resp, status: int, code: str, field: str | None) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code
    assert body["error"]["field"] == field
    assert body["error"]["message"]


# --------------------------------------------------------------------------- ingest


def test_single_event_is_stored(client):
    uid = user()
    resp = client.post("/v1/events", json=view(uid, properties={"page": "home"}))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    (eid,) = body["event_ids"]
    assert len(eid) == 32  # generated uuid4 hex
    row = db(client, "fetchrow", "SELECT * FROM events WHERE event_id = $1", eid)
    assert row["user_id"] == uid and row["product_id"] == P[0]
    assert row["properties"] == {"page": "home"}
    assert abs((row["ts"] - now()).total_seconds()) < 60  # missing ts -> now
    assert count_rows(client, uid) == (1, 1)


def test_batch_ingest_updates_realtime_state(client, r, keys):
    uid = user()
    t0 = now() - timedelta(minutes=10)
    events = [
        view(uid, P[0], ts=t0.isoformat()),
        {
            "user_id": uid,
            "event_type": "add_to_cart",
            "product_id": P[1],
            "ts": (t0 + timedelta(minutes=1)).isoformat(),
        },
        {
            "user_id": uid,
            "event_type": "purchase",
            "product_id": P[1],
            "ts": (t0 + timedelta(minutes=2)).isoformat(),
        },
        {
            "user_id": uid,
            "event_type": "search",
            "query": " tv stand ",
            "ts": (t0 + timedelta(minutes=3)).isoformat(),
        },
    ]
    resp = client.post("/v1/events", json={"events": events})
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == 4
    assert count_rows(client, uid) == (4, 4)

    assert r.zrevrange(keys.recent_items(uid), 0, -1) == [P[1], P[0]]
    assert r.lrange(keys.recent_queries(uid), 0, -1) == ["tv stand"]
    assert r.smembers(keys.purchased(uid)) == {P[1]}
    affinity = {k: float(v) for k, v in r.hgetall(keys.affinity(uid)).items()}
    assert set(affinity) == {"ei-tv", "ei-audio"}
    assert affinity["ei-audio"] == pytest.approx(8 * affinity["ei-tv"], rel=1e-3)  # 3+5 vs 1
    counts = r.hgetall(keys.counts(uid))
    assert counts["view"] == "1" and counts["purchase"] == "1" and counts["search"] == "1"
    trending = client.portal.call(trending_scores, client.app.state.redis, keys)
    assert trending[P[1]] > trending[P[0]] > 0
    assert r.zscore(keys.popularity, P[1]) > 0


def test_same_event_id_is_stored_once(client):
    uid = user()
    ev = view(uid, event_id=f"dup-{uid}")
    first = client.post("/v1/events", json=ev).json()
    second = client.post("/v1/events", json=ev).json()
    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 1)
    assert second["event_ids"] == [f"dup-{uid}"]
    batch = client.post("/v1/events", json={"events": [ev, view(uid, event_id=f"n-{uid}"), ev]})
    assert (batch.json()["accepted"], batch.json()["duplicates"]) == (1, 2)
    assert count_rows(client, uid) == (2, 2)


def test_batch_with_one_unknown_product_writes_nothing(client):
    uid = user()
    events = [view(uid), view(uid, "ZZZZZZZZZ9"), view(uid, P[2])]
    resp = client.post("/v1/events", json={"events": events})
    assert_error(resp, 422, "validation_error", "events[1].product_id")
    assert "unknown product" in resp.json()["error"]["message"]
    assert count_rows(client, uid) == (0, 0)
    assert_error(
        client.post("/v1/events", json=view(uid, "ZZZZZZZZZ9")),
        422,
        "validation_error",
        "product_id",
    )


def test_batch_with_one_invalid_event_writes_nothing(client):
    uid = user()
    events = [view(uid), view(uid), {"user_id": uid, "event_type": "search"}]
    assert_error(
        client.post("/v1/events", json={"events": events}),
        422,
        "validation_error",
        "events[2].query",
    )
    assert count_rows(client, uid) == (0, 0)


def test_product_added_after_startup_is_found(client, pg_url):
    asyncio.run(_insert(pg_url, [LATE], ["ei-late"]))
    resp = client.post("/v1/events", json=view(user(), LATE))
    assert resp.status_code == 200, resp.text
    assert client.app.state.catalog.get(LATE) == "ei-late"


FUTURE = (datetime.now(UTC) + timedelta(hours=2)).isoformat()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (view("u1", event_type="teleport"), "event_type"),
        (view("u1", "not-an-id"), "product_id"),
        ({"user_id": "u1", "event_type": "search"}, "query"),
        ({"user_id": "u1", "event_type": "search", "query": "  "}, "query"),
        ({"user_id": "u1", "event_type": "search", "query": "q" * 201}, "query"),
        (view("u1", ts=FUTURE), "ts"),
        (view("u1", surprise=1), "surprise"),
        (view("bad id"), "user_id"),
    ],
)
def test_validation_errors_single_and_batch(client, event, field):
    assert_error(client.post("/v1/events", json=event), 422, "validation_error", field)
    resp = client.post("/v1/events", json={"events": [view("u1"), event]})
    assert_error(resp, 422, "validation_error", f"events[1].{field}")


def test_too_many_events_is_413(client):
    resp = client.post("/v1/events", json={"events": [view("u1")] * 1001})
    assert_error(resp, 413, "payload_too_large", "events")


def test_malformed_json_is_400(client):
    resp = client.post(
        "/v1/events", content=b'{"user_id": "u1",', headers={"content-type": "application/json"}
    )
    assert_error(resp, 400, "invalid_json", None)


def test_body_over_limit_is_413(client, settings):
    big = orjson.dumps(view("u1", properties={"blob": "x" * (settings.max_body_bytes + 1)}))
    resp = client.post("/v1/events", content=big, headers={"content-type": "application/json"})
    assert_error(resp, 413, "payload_too_large", None)


# --------------------------------------------------------------------------- history


def test_history_filters_by_days_newest_first(client):
    uid = user()
    t = now()
    events = [
        view(uid, P[0], event_id=f"h1-{uid}", ts=(t - timedelta(days=40)).isoformat()),
        view(uid, P[1], event_id=f"h2-{uid}", ts=(t - timedelta(days=2)).isoformat()),
        {
            "user_id": uid,
            "event_type": "search",
            "query": "lamp",
            "event_id": f"h3-{uid}",
            "ts": (t - timedelta(days=1)).isoformat(),
        },
    ]
    assert client.post("/v1/events", json={"events": events}).status_code == 200
    body = client.get(f"/v1/users/{uid}/history").json()
    assert body["days"] == 30
    assert [e["event_id"] for e in body["events"]] == [f"h3-{uid}", f"h2-{uid}"]
    assert body["events"][0]["query"] == "lamp"
    body = client.get(f"/v1/users/{uid}/history", params={"days": 60}).json()
    assert [e["event_id"] for e in body["events"]] == [f"h3-{uid}", f"h2-{uid}", f"h1-{uid}"]
    assert client.get(f"/v1/users/{user()}/history").json()["events"] == []


def test_history_validation(client):
    assert_error(client.get("/v1/users/u1/history?days=0"), 422, "validation_error", "days")
    assert_error(client.get("/v1/users/u1/history?days=366"), 422, "validation_error", "days")
    assert_error(client.get("/v1/users/b@d/history"), 422, "validation_error", "user_id")


# --------------------------------------------------------------------------- erasure


def test_erasure_removes_rows_and_keys_and_is_idempotent(client, r, keys):
    uid = user()
    events = [
        view(uid, P[0]),
        {"user_id": uid, "event_type": "purchase", "product_id": P[3]},
        {"user_id": uid, "event_type": "search", "query": "desk"},
    ]
    assert client.post("/v1/events", json={"events": events}).status_code == 200
    r.set(f"{keys.prefix}user:{uid}:extra", "1")  # a key outside user_keys: found by SCAN
    assert r.keys(keys.user_pattern(uid))

    resp = client.delete(f"/v1/users/{uid}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user_id"] == uid and body["events_deleted"] == 3
    assert body["keys_deleted"] >= 5
    assert count_rows(client, uid) == (0, 0)
    assert r.keys(keys.user_pattern(uid)) == []
    assert db(client, "fetchval", "SELECT count(*) FROM erasures WHERE user_id = $1", uid) == 1

    again = client.delete(f"/v1/users/{uid}").json()
    assert (again["events_deleted"], again["keys_deleted"]) == (0, 0)


# --------------------------------------------------------------------------- ops + failures


def test_ready_and_metrics(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    assert 'recsys_events_ingested_total{event_type="view"}' in client.get("/metrics").text


def test_redis_down_still_acknowledges_committed_events(settings):
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(build_app(broken)) as c:
        uid = user()
        resp = c.post("/v1/events", json=view(uid))
        assert resp.status_code == 200, resp.text
        assert resp.json()["accepted"] == 1
        assert count_rows(c, uid) == (1, 1)
        assert c.get("/readyz").status_code == 503


def test_exhausted_pool_answers_503_quickly(settings):
    tight = settings.model_copy(
        update={"db_pool_min": 1, "db_pool_max": 1, "db_acquire_timeout_seconds": 0.2}
    )
    with TestClient(build_app(tight)) as c:
        pool = c.app.state.pool
        held = c.portal.call(pool.acquire)
        try:
            assert_error(c.post("/v1/events", json=view(user())), 503, "unavailable", None)
        finally:
            c.portal.call(pool.release, held)
        assert c.post("/v1/events", json=view(user())).status_code == 200
