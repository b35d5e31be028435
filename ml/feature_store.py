"""Feast feature store helpers: configuration from our environment, apply,
materialisation, and the push of Redis popularity/trending into `product_stats`.

The repo lives in `feature_repo/` (definitions.py + feature_store.yaml). Its
feature_store.yaml reads `${VAR}` placeholders; `feast_env()` derives those
variables from DATABASE_URL / REDIS_URL / FEAST_PROJECT, so every process (the
services, the `recsys` CLI, tests, the `feast` CLI after `eval $(recsys feast-env)`)
configures Feast the same way:

    FEAST_PROJECT           project name (default `recsys`; tests use recsys_test_<run>)
    FEAST_REGISTRY_PATH     SQLAlchemy URL of the SQL registry (postgresql+psycopg://...)
    FEAST_REDIS             Redis connection string `host:port,db=N[,password=..][,ssl=true]`
    FEAST_PG_HOST/_PORT/_DATABASE/_USER/_PASSWORD/_SSLMODE   offline store (Postgres)

Public API (used by feature-serving, event-ingest and the CLI; keep stable):

    feast_env(database_url=None, redis_url=None, project=None) -> dict[str, str]
    repo_config(env=None) -> feast.RepoConfig
    get_store(database_url=None, redis_url=None, project=None) -> feast.FeatureStore
    apply(store=None) -> list[str]
    materialize_incremental(end=None, store=None) -> MaterializeStats
    materialize(start, end, store=None) -> MaterializeStats
    push_product_stats(store, redis_url, prefix="recsys:", now=None) -> int
    delete_online_keys(project, redis_url) -> int
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # feast is heavy to import: only when used
    from feast import FeatureStore

from services.common.feast_config import (  # noqa: F401 - re-exported for the CLI/tests
    CANDIDATE_GEN_SERVICE,
    DEFAULT_DATABASE_URL,
    DEFAULT_PROJECT,
    DEFAULT_REDIS_URL,
    FEATURE_REPO,
    PRODUCT_CATALOG,
    PRODUCT_STATS,
    PRODUCT_STATS_PUSH,
    RANKING_SERVICE,
    USER_ACTIVITY,
    USER_INTERESTS,
    USER_INTERESTS_PUSH,
    config_file,
    feast_env,
    get_store,
    redis_connection_string,
    repo_config,
)


def _definitions(repo_path: Path = FEATURE_REPO):
    spec = importlib.util.spec_from_file_location(
        "recsys_feature_definitions", repo_path / "definitions.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def apply(store: FeatureStore | None = None) -> list[str]:
    """`feast apply` from code: registers the entities, sources, feature views and
    services of feature_repo/definitions.py and creates the online store infra.
    Idempotent. Returns the names applied."""
    store = store or get_store()
    objects = list(_definitions().objects())
    store.apply(objects)
    return [obj.name for obj in objects]


# --------------------------------------------------------------------------- materialise


@dataclass
class MaterializeStats:
    rows: int
    seconds: float
    start: datetime | None
    end: datetime


def _batch_rows(store: FeatureStore, start: datetime | None, end: datetime) -> int:
    """Rows the materialisation wrote: Feast does not report them, so count the
    entities with a row in [start, end] of each view (one row per entity is written)."""

    views = _definitions().BATCH_VIEWS  # {view table: entity column}
    lo = start or datetime(1970, 1, 1, tzinfo=UTC)
    total = 0
    with _offline_connection(store) as conn:
        for table, key in views.items():
            total += conn.execute(
                f"SELECT count(DISTINCT {key}) FROM {table}"  # noqa: S608 - constants
                " WHERE event_timestamp > %s AND event_timestamp <= %s",
                (lo, end),
            ).fetchone()[0]
    return total


def materialize_incremental(
    end: datetime | None = None, store: FeatureStore | None = None, *, count_rows: bool = True
) -> MaterializeStats:
    """Load every feature view's rows newer than its last materialisation (or its ttl
    on the first run) up to `end` into Redis. Running it twice is a no-op the second time
    (same values, same timestamps)."""
    store = store or get_store()
    end = end or datetime.now(UTC)
    starts = [
        fv.most_recent_end_time for fv in store.list_feature_views() if fv.most_recent_end_time
    ]
    start = min(starts) if starts else None
    started = time.perf_counter()
    store.materialize_incremental(end_date=end)
    seconds = time.perf_counter() - started
    rows = _batch_rows(store, start, end) if count_rows else 0
    return MaterializeStats(rows, seconds, start, end)


def materialize(
    start: datetime,
    end: datetime | None = None,
    store: FeatureStore | None = None,
    *,
    count_rows: bool = True,
) -> MaterializeStats:
    """Full (re)materialisation of (start, end]."""
    store = store or get_store()
    end = end or datetime.now(UTC)
    started = time.perf_counter()
    store.materialize(start_date=start, end_date=end)
    seconds = time.perf_counter() - started
    rows = _batch_rows(store, start, end) if count_rows else 0
    return MaterializeStats(rows, seconds, start, end)


# --------------------------------------------------------------------------- push


async def _read_product_stats(
    redis_url: str, prefix: str, now: datetime
) -> tuple[dict[str, float], dict[str, float]]:
    from services.common.cache import create_redis
    from services.common.keys import Keys
    from services.common.realtime import trending_scores
    from services.common.signals import affinity_scale

    keys = Keys(prefix)
    redis = create_redis(redis_url, socket_timeout=60)
    try:
        trending = await trending_scores(redis, keys, now=now)
        rows = await redis.zrange(keys.popularity, 0, -1, withscores=True)
    finally:
        await redis.aclose()
    scale = affinity_scale(now)
    popularity = {(m.decode() if isinstance(m, bytes) else m): float(s) * scale for m, s in rows}
    return trending, popularity


def product_stats_frame(
    trending: dict[str, float],
    popularity: dict[str, float],
    now: datetime,
    interactions_7d: dict[str, int] | None = None,
):
    """Rows of `product_stats_push`: popularity and trending as a share (0..1) of their
    maximum, interactions_7d when known (else 0)."""
    import pandas as pd

    ids = sorted(set(trending) | set(popularity))
    top_t = max((v for v in trending.values() if v > 0), default=1.0)
    top_p = max((v for v in popularity.values() if v > 0), default=1.0)
    counts = interactions_7d or {}
    return pd.DataFrame(
        {
            "product_id": ids,
            "popularity": [max(popularity.get(i, 0.0), 0.0) / top_p for i in ids],
            "trending": [max(trending.get(i, 0.0), 0.0) / top_t for i in ids],
            "interactions_7d": [int(counts.get(i, 0)) for i in ids],
            "event_timestamp": [now] * len(ids),
        }
    ).astype({"popularity": "float32", "trending": "float32", "interactions_7d": "int64"})


def _offline_connection(store: FeatureStore):
    """A psycopg connection to the offline store (our Postgres) of the store's config."""
    import psycopg

    cfg = store.config.offline_store
    return psycopg.connect(
        host=cfg.host,
        port=cfg.port,
        dbname=cfg.database,
        user=cfg.user,
        password=cfg.password or None,
        sslmode=cfg.sslmode or "prefer",
    )


def _interactions_7d(store: FeatureStore, now: datetime) -> dict[str, int]:

    with _offline_connection(store) as conn:
        rows = conn.execute(
            "SELECT product_id, count(*) FROM events WHERE product_id IS NOT NULL"
            " AND ts > %s AND ts <= %s GROUP BY product_id",
            (now - timedelta(days=7), now),
        ).fetchall()
    return {pid: int(n) for pid, n in rows}


def push_product_stats(
    store: FeatureStore,
    redis_url: str | None = None,
    prefix: str = "recsys:",
    now: datetime | None = None,
) -> int:
    """Push the real-time popularity and trending scores of Redis (services.common
    .realtime state) into the online `product_stats` view. Returns rows pushed."""
    from feast.data_source import PushMode

    now = now or datetime.now(UTC)
    redis_url = redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    trending, popularity = asyncio.run(_read_product_stats(redis_url, prefix, now))
    frame = product_stats_frame(trending, popularity, now, _interactions_7d(store, now))
    if frame.empty:
        return 0
    store.push(PRODUCT_STATS_PUSH, frame, to=PushMode.ONLINE)
    return len(frame)


# --------------------------------------------------------------------------- cleanup


def online_store_empty(project: str, redis_url: str | None = None) -> bool:
    """True when Redis holds no online-store key of the project (a new or flushed
    Redis, while the registry in Postgres still has the materialisation watermarks)."""
    import redis

    client = redis.Redis.from_url(redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    try:
        suffix = project.encode()
        return not any(
            key.endswith(suffix) for key in client.scan_iter(match=f"*{project}", count=5000)
        )
    finally:
        client.close()


def delete_online_keys(project: str, redis_url: str | None = None) -> int:
    """Delete every online-store key of a Feast project (tests, benchmarks). Feast's
    Redis keys are <serialized entity key><project>, so this matches on the suffix:
    do not use it for a project whose name is a suffix of another project's name
    (or of unrelated keys) in the same Redis database."""
    import redis

    redis_url = redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    client = redis.Redis.from_url(redis_url)
    deleted = 0
    try:
        batch = []
        for key in client.scan_iter(match=f"*{project}", count=5000):
            if key.endswith(project.encode()):
                batch.append(key)
            if len(batch) >= 1000:
                deleted += client.unlink(*batch)
                batch = []
        if batch:
            deleted += client.unlink(*batch)
    finally:
        client.close()
    return deleted
