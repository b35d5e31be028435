"""Feast feature store on real Postgres and Redis: apply, materialise, online reads,
values equal to a direct SQL computation, point-in-time correct training data,
idempotent incremental materialisation, and the product_stats push.

Isolation: a database of this module's own (controlled data: product shares depend
on every product) migrated like pg_url, a Feast project `recsys_test_<run>` whose
SQL registry lives in that database, and the project's Redis keys deleted at the end.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from typer.testing import CliRunner

from services.common.signals import EVENT_WEIGHTS
from tests.conftest import RUN_ID

pytest.importorskip("feast")

from ml import feature_store as fsm  # noqa: E402
from ml.training_data import build_entity_df, training_set  # noqa: E402

PROJECT = f"recsys_test_{RUN_ID}"
NOW = datetime.now(UTC).replace(microsecond=0)
P1, P2, P3 = "FTA0000001", "FTA0000002", "FTA0000003"
U1, U2 = "ftu1", "ftu2"
PRODUCTS = [  # product_id, name, main_category, sub_category, price, updated_at
    (P1, "A Novel", "books", "Fiction", 10, NOW - timedelta(days=20)),
    (P2, "Another Novel", "books", "Fiction", 12, NOW - timedelta(days=20)),
    (P3, "Running Shoe", "shoes", "Sports Shoes", 50, NOW - timedelta(days=20)),
]
T0 = NOW - timedelta(days=10)
T1 = NOW - timedelta(days=3)
T2 = NOW - timedelta(days=1)
EVENTS = [  # event_id, user_id, event_type, product_id, query, ts
    ("fe-1", U1, "view", P1, None, T0),
    ("fe-2", U1, "click", P3, None, T0 + timedelta(minutes=30)),
    ("fe-3", U1, "search", None, "novel", T1 - timedelta(minutes=5)),
    ("fe-4", U1, "add_to_cart", P2, None, T1),
    ("fe-5", U1, "purchase", P2, None, T1 + timedelta(minutes=10)),
    ("fe-6", U1, "view", P3, None, T2),
    ("fe-7", U1, "remove_from_cart", P1, None, T2 + timedelta(minutes=1)),
    ("fe-8", U2, "view", P3, None, T2 - timedelta(hours=1)),
]


@pytest.fixture(scope="module")
def feast_db(pg_server_url):
    from deploy.local.infra import create_database, drop_database, with_database
    from services.common.db import migrate

    name = f"recsys_feast_{RUN_ID}"
    asyncio.run(create_database(pg_server_url, name))
    url = with_database(pg_server_url, name)
    asyncio.run(migrate(url))

    async def seed():
        conn = await asyncpg.connect(url)
        try:
            await conn.executemany(
                "INSERT INTO products (product_id, name, main_category, sub_category, price,"
                " updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                PRODUCTS,
            )
            await conn.executemany(
                "INSERT INTO events (event_id, user_id, event_type, product_id, query, ts)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                EVENTS,
            )
        finally:
            await conn.close()

    asyncio.run(seed())
    yield url
    asyncio.run(drop_database(pg_server_url, name))


@pytest.fixture(scope="module")
def store(feast_db, redis_url):
    store = fsm.get_store(feast_db, redis_url, PROJECT)
    fsm.apply(store)
    yield store
    fsm.delete_online_keys(PROJECT, redis_url)


@pytest.fixture(scope="module")
def materialized(store):
    return fsm.materialize_incremental(NOW, store)


def _online(store, refs, rows):
    return store.get_online_features(features=refs, entity_rows=rows).to_dict()


async def _fetch(url, sql, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def test_env_and_config(feast_db, redis_url):
    env = fsm.feast_env(feast_db, redis_url, PROJECT)
    assert env["FEAST_PROJECT"] == PROJECT
    assert env["FEAST_REGISTRY_PATH"].startswith("postgresql+psycopg://")
    assert env["FEAST_REDIS"].split(",")[0]
    cfg = fsm.repo_config(env)
    assert cfg.project == PROJECT and cfg.online_store.type == "redis"
    assert cfg.offline_store.database == env["FEAST_PG_DATABASE"]
    assert fsm.redis_connection_string("redis://:pw@h:6380/2") == "h:6380,db=2,password=pw"
    assert fsm.redis_connection_string("rediss://h/1").endswith(",ssl=true")
    assert "unix_socket_path=/tmp/r.sock" in fsm.redis_connection_string("unix:///tmp/r.sock?db=3")


def test_apply_registers_the_contract(store):
    fsm.apply(store)  # idempotent
    views = {fv.name for fv in store.list_feature_views()}
    assert views == {"user_activity", "user_interests", "product_catalog", "product_stats"}
    assert {s.name for s in store.list_feature_services()} == {"ranking_v1", "candidate_gen_v1"}
    assert store.get_data_source("user_interests_push").name == "user_interests_push"
    assert store.get_data_source("product_stats_push").name == "product_stats_push"


def test_online_user_features_equal_direct_sql(store, materialized, feast_db):
    assert materialized.rows > 0
    refs = [
        "user_activity:views_7d",
        "user_activity:clicks_7d",
        "user_activity:purchases_7d",
        "user_activity:events_7d",
        "user_activity:events_30d",
        "user_activity:last_active_ts",
        "user_interests:recent_items",
        "user_interests:recent_queries",
        "user_interests:purchased",
        "user_interests:affinity_categories",
        "user_interests:affinity_weights",
    ]
    got = _online(store, refs, [{"user_id": U1}])
    t = T2 + timedelta(minutes=1)  # U1's last event
    assert got["last_active_ts"] == [int(t.timestamp())]
    # counts: a direct SQL over the events of [T - 7 d, T]
    (row,) = asyncio.run(
        _fetch(
            feast_db,
            "SELECT count(*) FILTER (WHERE event_type = 'view'"
            "  AND ts >= $2::timestamptz - interval '7 days') AS views,"
            " count(*) FILTER (WHERE ts >= $2::timestamptz - interval '7 days') AS e7,"
            " count(*) AS e30"
            " FROM events WHERE user_id = $1 AND ts <= $2::timestamptz"
            " AND ts >= $2::timestamptz - interval '30 days'",
            U1,
            t,
        )
    )
    assert got["views_7d"] == [row["views"]] == [1]
    assert got["events_7d"] == [row["e7"]] == [5]
    assert got["events_30d"] == [row["e30"]] == [7]
    assert got["clicks_7d"] == [0] and got["purchases_7d"] == [1]
    assert got["recent_items"] == [[P3, P2, P1]]  # P1 last touched by a negative weight
    assert got["recent_queries"] == [["novel"]]
    assert got["purchased"] == [[P2]]
    # affinity: independent SQL with the weights of signals.EVENT_WEIGHTS
    weights = [(str(k), float(v)) for k, v in EVENT_WEIGHTS.items()]
    rows = asyncio.run(
        _fetch(
            feast_db,
            "SELECT p.main_category, sum(w.weight * exp(-extract(epoch FROM $2::timestamptz - e.ts)"
            " / 86400.0 / 30.0)) AS s FROM events e JOIN products p USING (product_id)"
            " JOIN unnest($3::text[], $4::float8[]) w(event_type, weight) USING (event_type)"
            " WHERE e.user_id = $1 AND e.ts <= $2::timestamptz GROUP BY 1",
            U1,
            t,
            [w[0] for w in weights],
            [w[1] for w in weights],
        )
    )
    scores = {r["main_category"]: r["s"] for r in rows if r["s"] > 0}
    total = sum(scores.values())
    expected = sorted(scores, key=lambda c: -scores[c])
    assert got["affinity_categories"] == [expected]
    for cat, share in zip(expected, got["affinity_weights"][0], strict=True):
        assert math.isclose(share, scores[cat] / total, rel_tol=1e-5)
    assert math.isclose(sum(got["affinity_weights"][0]), 1.0, rel_tol=1e-5)


def test_online_product_features(store, materialized, feast_db):
    got = _online(
        store,
        [
            "product_catalog:name",
            "product_catalog:price",
            "product_catalog:main_category",
            "product_catalog:in_stock",
            "product_stats:popularity",
            "product_stats:interactions_7d",
        ],
        [{"product_id": P1}, {"product_id": P3}],
    )
    assert got["name"] == ["A Novel", "Running Shoe"]
    assert got["price"] == [10.0, 50.0] and got["in_stock"] == [True, True]
    rows = asyncio.run(
        _fetch(
            feast_db,
            "SELECT DISTINCT ON (product_id) product_id, popularity, interactions_7d"
            " FROM feast_product_stats WHERE event_timestamp <= $1"
            " ORDER BY product_id, event_timestamp DESC",
            NOW,
        )
    )
    by_id = {r["product_id"]: r for r in rows}
    assert got["interactions_7d"] == [by_id[P1]["interactions_7d"], by_id[P3]["interactions_7d"]]
    assert max(r["popularity"] for r in rows) == pytest.approx(1.0)
    # P3: 3 events within 7 days of the last snapshot
    assert by_id[P3]["interactions_7d"] >= 2


def test_materialize_incremental_is_idempotent(store, materialized):
    refs = ["user_activity:events_30d", "user_interests:recent_items", "product_catalog:name"]
    rows = [{"user_id": U1, "product_id": P1}, {"user_id": U2, "product_id": P3}]
    before = _online(store, refs, rows)
    again = fsm.materialize_incremental(NOW, store)
    assert again.seconds >= 0
    assert _online(store, refs, rows) == before


def test_training_set_is_point_in_time_correct(store, materialized, feast_db):
    entity = build_entity_df(feast_db, NOW - timedelta(days=30), NOW)
    assert len(entity) == 6  # product events of an exposure/engagement type (not removals)
    assert set(entity.columns) == {"user_id", "product_id", "event_timestamp", "label"}
    by_event = entity.set_index(["user_id", "product_id"]).sort_values("event_timestamp")
    assert list(by_event.loc[(U1, P2), "label"]) == [1, 1]  # add_to_cart, purchase
    assert list(by_event.loc[(U2, P3), "label"]) == [0]  # view
    frame = training_set(
        store, entity, extra_features=["user_activity:events_30d", "user_activity:last_active_ts"]
    )
    assert len(frame) == len(entity)
    u1 = frame[frame.user_id == U1].set_index(["product_id", "label"])
    # the add_to_cart of P2 (T1): features from before it only
    at_cart = frame[(frame.user_id == U1) & (frame.product_id == P2) & (frame.label == 1)]
    first = at_cart.sort_values("event_timestamp").iloc[0]
    assert P2 not in list(first["recent_items"]) and list(first["purchased"]) == []
    assert first["events_30d"] == 2  # the two events of T0's day
    assert first["last_active_ts"] < int(T1.timestamp())
    # nothing in the training set is newer than its label
    for _, row in frame.iterrows():
        if row["last_active_ts"] == row["last_active_ts"]:  # not NaN
            assert row["last_active_ts"] <= row["event_timestamp"].timestamp()
    # the first event of U1 has no history at all
    earliest = frame[frame.user_id == U1].sort_values("event_timestamp").iloc[0]
    assert earliest["recent_items"] is None or len(earliest["recent_items"]) == 0
    assert len(u1) > 0


def test_push_product_stats_from_redis(store, materialized, redis_url, redis_prefix):
    from services.common.cache import create_redis
    from services.common.keys import Keys
    from services.common.realtime import RealtimeEvent, apply_events

    prefix = f"{redis_prefix}feastpush:"

    async def seed():
        redis = create_redis(redis_url)
        try:
            await apply_events(
                redis,
                Keys(prefix),
                [
                    RealtimeEvent(U1, "purchase", NOW - timedelta(minutes=2), P1, "books"),
                    RealtimeEvent(U2, "view", NOW - timedelta(minutes=2), P3, "shoes"),
                ],
                now=NOW,
            )
        finally:
            await redis.aclose()

    asyncio.run(seed())
    assert fsm.push_product_stats(store, redis_url, prefix, NOW) == 2
    got = _online(
        store,
        ["product_stats:popularity", "product_stats:trending"],
        [{"product_id": P1}, {"product_id": P3}],
    )
    assert got["popularity"] == [pytest.approx(1.0), pytest.approx(0.2, rel=1e-3)]
    assert got["trending"] == [pytest.approx(1.0), pytest.approx(0.2, rel=1e-3)]


def test_cli_materialize(store, feast_db, redis_url, redis_prefix):
    from ml.cli import app

    env = {
        "DATABASE_URL": feast_db,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "FEAST_PROJECT": PROJECT,
    }
    runner = CliRunner(env=env)
    applied = runner.invoke(app, ["feast-apply"])
    assert applied.exit_code == 0, applied.output
    result = runner.invoke(app, ["materialize"])
    assert result.exit_code == 0, result.output
    assert '"rows"' in result.output and '"seconds"' in result.output
    exported = runner.invoke(app, ["feast-env"])
    assert f"export FEAST_PROJECT={PROJECT}" in exported.output


def test_views_survive_an_ancient_event(feast_db):
    """Decay factors of a very old event underflow double precision unless clamped
    (events older than 400 days are refused by the API, but may exist from imports)."""
    import asyncpg

    async def run() -> int:
        conn = await asyncpg.connect(feast_db)
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO events (event_id, user_id, event_type, product_id, ts)"
                    " SELECT 'ancient-1', 'ancient-user', 'purchase', product_id,"
                    " '1900-01-01T00:00:00Z' FROM products LIMIT 1"
                )
                n = await conn.fetchval("SELECT count(*) FROM feast_product_stats")
                await conn.fetchval("SELECT count(*) FROM feast_user_interests")
                raise _Rollback(n)
        except _Rollback as done:
            return done.n
        finally:
            await conn.close()

    assert asyncio.run(run()) > 0


class _Rollback(Exception):
    def __init__(self, n: int) -> None:
        self.n = n


def test_online_store_emptiness_is_detected(store, materialized, redis_url):
    from ml.feature_store import online_store_empty

    assert not online_store_empty(store.project, redis_url)
    assert online_store_empty(f"{store.project}_never_applied", redis_url)
