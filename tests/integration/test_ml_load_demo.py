"""load-demo and rebuild-realtime on a small generated data set."""

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg
import pytest
import redis
from typer.testing import CliRunner

from ml.cli import app
from services.common.keys import Keys
from services.common.signals import RECENT_ITEMS_CAP, event_weight, hour_bucket

SIZES = ["--products", "300", "--users", "200", "--days", "3", "--seed", "5"]


@pytest.fixture(scope="module")
def loaded(pg_url, redis_url, redis_prefix):
    env = {"DATABASE_URL": pg_url, "REDIS_URL": redis_url, "REDIS_PREFIX": redis_prefix}
    runner = CliRunner(env=env)

    # an event that is not synthetic must survive --force reloads
    async def seed_other():
        conn = await asyncpg.connect(pg_url)
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO event_ids VALUES ('e-keep-1', 'keeper', now() - interval '1 hour')"
                    " ON CONFLICT DO NOTHING"
                )
                await conn.execute(
                    "INSERT INTO events (event_id, user_id, event_type, query, ts)"
                    " SELECT 'e-keep-1', 'keeper', 'search', 'earbuds', now() - interval '1 hour'"
                    " WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = 'e-keep-1')"
                )
        finally:
            await conn.close()

    asyncio.run(seed_other())
    first = runner.invoke(app, ["load-demo", "--force", *SIZES])
    assert first.exit_code == 0, first.output
    return runner, first.output


def _rows(pg_url, sql):
    async def run():
        conn = await asyncpg.connect(pg_url)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_load_demo_loads_and_reuses(loaded, pg_url):
    runner, output = loaded
    assert "loaded 300 products" in output
    counts = _rows(
        pg_url,
        "SELECT (SELECT count(*) FROM products WHERE source = 'synthetic') AS p,"
        " (SELECT count(*) FROM events WHERE event_id LIKE 'syn-%') AS e,"
        " (SELECT count(*) FROM event_ids WHERE event_id LIKE 'syn-%') AS i,"
        " (SELECT count(DISTINCT user_id) FROM events WHERE event_id LIKE 'syn-%') AS u,"
        " (SELECT count(*) FROM events WHERE event_id = 'e-keep-1') AS kept",
    )[0]
    assert counts["p"] == 300 and counts["e"] == counts["i"] > 1000 and counts["u"] == 200
    assert counts["kept"] == 1

    again = runner.invoke(app, ["load-demo", *SIZES])
    assert again.exit_code == 0 and "reusing existing data" in again.output
    forced = runner.invoke(app, ["load-demo", "--force", *SIZES])
    assert forced.exit_code == 0 and "loaded 300 products" in forced.output
    after = _rows(pg_url, "SELECT count(*) AS e FROM events WHERE event_id LIKE 'syn-%'")[0]
    assert after["e"] == counts["e"]  # same seed, same data, no duplicates


def test_rebuild_realtime_matches_events(loaded, pg_url, redis_url, redis_prefix):
    runner, _ = loaded
    keys = Keys(redis_prefix)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    stray = keys.recent_items("ghost")
    r.zadd(stray, {"S000000001": 1.0})  # derived state not backed by events: must go

    result = runner.invoke(app, ["rebuild-realtime"])
    assert result.exit_code == 0, result.output
    assert "replayed" in result.output
    assert not r.exists(stray)

    events = _rows(
        pg_url,
        "SELECT e.user_id, e.event_type, e.product_id, e.query, e.ts, p.main_category"
        " FROM events e LEFT JOIN products p USING (product_id) ORDER BY e.ts, e.event_id",
    )
    recent: dict[str, dict[str, float]] = defaultdict(dict)
    cats: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    popular: set[str] = set()
    for e in events:
        counts[e["user_id"]][e["event_type"]] += 1
        w = event_weight(e["event_type"])
        if e["product_id"] and w > 0:
            recent[e["user_id"]][e["product_id"]] = e["ts"].timestamp()
        if e["product_id"] and w != 0:
            popular.add(e["product_id"])
            cats[e["user_id"]].add(e["main_category"])

    user = max(recent, key=lambda u: len(recent[u]))
    want = sorted(recent[user], key=lambda p: -recent[user][p])[:RECENT_ITEMS_CAP]
    got = r.zrevrange(keys.recent_items(user), 0, -1)
    assert got == want
    assert set(r.hkeys(keys.affinity(user))) == cats[user]
    stored = r.hgetall(keys.counts(user))
    assert {k: int(v) for k, v in stored.items() if k != "last_active"} == dict(counts[user])
    assert r.lrange(keys.recent_queries("keeper"), 0, -1) == ["earbuds"]

    assert set(r.zrange(keys.popularity, 0, -1)) == popular
    now_bucket = hour_bucket(datetime.now(UTC))
    trending = [k for k in r.scan_iter(match=f"{redis_prefix}trending:item:*")]
    assert trending, "events of the last 48 hours must fill trending buckets"
    assert all(now_bucket - 48 < int(k.rsplit(":", 1)[1]) <= now_bucket for k in trending)

    # a second rebuild gives the same state (it starts from scratch)
    before = dict(r.zrange(keys.popularity, 0, -1, withscores=True))
    assert runner.invoke(app, ["rebuild-realtime"]).exit_code == 0
    after = dict(r.zrange(keys.popularity, 0, -1, withscores=True))
    assert after.keys() == before.keys()
    assert all(after[k] == pytest.approx(before[k]) for k in before)
