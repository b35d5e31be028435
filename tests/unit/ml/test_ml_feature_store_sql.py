"""The event weights of migration 0002 (SQL CASE) equal signals.EVENT_WEIGHTS, and
the Feast env/config derivation."""

import re

from services.common.db import MIGRATIONS_DIR
from services.common.signals import (
    AFFINITY_DECAY_DAYS,
    EVENT_WEIGHTS,
    RECENT_ITEMS_CAP,
    RECENT_QUERIES_CAP,
)

SQL = (MIGRATIONS_DIR / "0002_feature_views.sql").read_text()


def test_sql_case_weights_equal_signals():
    body = SQL[SQL.index("CREATE FUNCTION recsys_event_weight") :].split("$$")[1]
    found = {m[0]: float(m[1]) for m in re.findall(r"WHEN '(\w+)' THEN (-?[\d.]+)", body)}
    assert found == {str(k): v for k, v in EVENT_WEIGHTS.items()}


def test_sql_constants_equal_signals():
    assert f"LIMIT {RECENT_ITEMS_CAP}" in SQL
    assert f"LIMIT {RECENT_QUERIES_CAP}" in SQL
    assert f"/ 86400.0 / {AFFINITY_DECAY_DAYS}" in SQL
    assert "- 1704067200" in SQL  # signals.AFFINITY_EPOCH


def test_feast_env_from_urls():
    from ml.feature_store import feast_env

    env = feast_env(
        "postgresql://app:s3cret@db:5433/shop?sslmode=require", "redis://cache:6380/4", "demo"
    )
    assert env["FEAST_PROJECT"] == "demo"
    assert env["FEAST_PG_HOST"] == "db" and env["FEAST_PG_PORT"] == "5433"
    assert env["FEAST_PG_DATABASE"] == "shop" and env["FEAST_PG_USER"] == "app"
    assert env["FEAST_PG_PASSWORD"] == "s3cret" and env["FEAST_PG_SSLMODE"] == "require"
    assert env["FEAST_REGISTRY_PATH"] == (
        "postgresql+psycopg://app:s3cret@db:5433/shop?sslmode=require"
    )
    assert env["FEAST_REDIS"] == "cache:6380,db=4"


def test_feast_env_unix_sockets():
    from ml.feature_store import feast_env

    env = feast_env(
        "postgresql://postgres:@/recsys?host=/tmp/pg", "unix:///tmp/redis.sock?db=2", "x"
    )
    assert env["FEAST_PG_HOST"] == "/tmp/pg"
    assert env["FEAST_REGISTRY_PATH"] == "postgresql+psycopg://postgres@/recsys?host=/tmp/pg"
    assert env["FEAST_REDIS"] == "localhost:6379,unix_socket_path=/tmp/redis.sock,db=2"
