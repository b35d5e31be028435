"""Feast configuration shared by the services, the `recsys` CLI and tests.

feature_repo/feature_store.yaml reads `${VAR}` placeholders; `feast_env()` derives
them from DATABASE_URL / REDIS_URL / FEAST_PROJECT, so every process configures Feast
the same way (see docs/feature-store.md):

    FEAST_PROJECT           project name (default `recsys`; tests use recsys_test_<run>)
    FEAST_REGISTRY_PATH     SQLAlchemy URL of the SQL registry (postgresql+psycopg://...)
    FEAST_REDIS             Redis connection string `host:port,db=N[,password=..][,ssl=true]`
    FEAST_PG_HOST/_PORT/_DATABASE/_USER/_PASSWORD/_SSLMODE   offline store (Postgres)

The repo folder is FEAST_REPO_PATH (images: /app/feature_repo), else ./feature_repo of
the source tree. Feast itself is imported only when a store is built.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:  # feast is heavy to import: only when used
    from feast import FeatureStore, RepoConfig

FEATURE_REPO = Path(
    os.environ.get("FEAST_REPO_PATH") or Path(__file__).resolve().parents[2] / "feature_repo"
)
DEFAULT_PROJECT = "recsys"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/recsys"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# Names of the contract (docs/feature-store.md).
USER_ACTIVITY = "user_activity"
USER_INTERESTS = "user_interests"
PRODUCT_CATALOG = "product_catalog"
PRODUCT_STATS = "product_stats"
USER_INTERESTS_PUSH = "user_interests_push"
PRODUCT_STATS_PUSH = "product_stats_push"
RANKING_SERVICE = "ranking_v1"
CANDIDATE_GEN_SERVICE = "candidate_gen_v1"

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --------------------------------------------------------------------------- config


def redis_connection_string(redis_url: str) -> str:
    """Feast's Redis connection string (`host:port,db=N,password=..,ssl=true`) from a
    redis:// or rediss:// URL. Feast's Redis online store connects over TCP only:
    a unix:// socket URL becomes `localhost:6379,unix_socket_path=/path,db=N` (Feast
    passes every `key=value` to redis.Redis, which then uses the socket)."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        query = parse_qs(parts.query)
        db = query.get("db", ["0"])[0]
        out = f"localhost:6379,unix_socket_path={parts.path},db={db}"
        if parts.password or "password" in query:
            out += f",password={unquote(parts.password or query['password'][0])}"
        return out
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"unsupported Redis URL scheme for Feast: {parts.scheme}://")
    db = (parts.path or "/0").lstrip("/") or "0"
    query = parse_qs(parts.query)
    if "db" in query:
        db = query["db"][0]
    out = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379},db={db}"
    if parts.password:
        out += f",password={unquote(parts.password)}"
    if parts.username and parts.username != "default":
        out += f",username={unquote(parts.username)}"
    if parts.scheme == "rediss":
        out += ",ssl=true"
    return out


def feast_env(
    database_url: str | None = None, redis_url: str | None = None, project: str | None = None
) -> dict[str, str]:
    """The FEAST_* variables feature_store.yaml expands, from our own settings (or
    DATABASE_URL / REDIS_URL / FEAST_PROJECT of the environment)."""
    database_url = database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    project = project or os.environ.get("FEAST_PROJECT") or DEFAULT_PROJECT
    pg = urlsplit(database_url)
    query = parse_qs(pg.query)
    host = pg.hostname or query.get("host", ["127.0.0.1"])[0]
    database = (pg.path or "/postgres").lstrip("/") or "postgres"
    user = unquote(pg.username or "postgres")
    password = unquote(pg.password or "")
    sslmode = query.get("sslmode", ["prefer"])[0]
    auth = user + (f":{pg.password}" if pg.password else "")
    params = []
    if host.startswith("/"):  # unix socket directory (e.g. the embedded local Postgres)
        registry = f"postgresql+psycopg://{auth}@/{database}"
        params.append(f"host={host}")
    else:
        registry = f"postgresql+psycopg://{auth}@{host}:{pg.port or 5432}/{database}"
    if sslmode != "prefer":
        params.append(f"sslmode={sslmode}")
    if params:
        registry += "?" + "&".join(params)
    return {
        "FEAST_PROJECT": project,
        "FEAST_REGISTRY_PATH": registry,
        "FEAST_REDIS": redis_connection_string(redis_url),
        "FEAST_PG_HOST": host,
        "FEAST_PG_PORT": str(pg.port or 5432),
        "FEAST_PG_DATABASE": database,
        "FEAST_PG_USER": user,
        "FEAST_PG_PASSWORD": password,
        "FEAST_PG_SSLMODE": sslmode,
    }


def _expand(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m.group(1), os.environ.get(m.group(1), "")), value)
    if isinstance(value, dict):
        return {k: _expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env) for v in value]
    return value


def config_file(repo_path: Path = FEATURE_REPO) -> Path:
    """feature_repo/feature_store.yaml, or feature_repo/k8s/feature_store.yaml when
    FEAST_ENVIRONMENT=k8s."""
    if os.environ.get("FEAST_ENVIRONMENT", "local") == "k8s":
        return repo_path / "k8s" / "feature_store.yaml"
    return repo_path / "feature_store.yaml"


def repo_config(env: dict[str, str] | None = None, repo_path: Path = FEATURE_REPO) -> RepoConfig:
    """feature_store.yaml with `${VAR}` expanded from `env` (without touching
    os.environ, so one process may hold stores of several projects)."""
    import yaml
    from feast.repo_config import RepoConfig

    env = env or feast_env()
    raw = yaml.safe_load(config_file(repo_path).read_text())
    return RepoConfig(repo_path=repo_path, **_expand(raw, env))


def get_store(
    database_url: str | None = None, redis_url: str | None = None, project: str | None = None
) -> FeatureStore:
    from feast import FeatureStore

    return FeatureStore(config=repo_config(feast_env(database_url, redis_url, project)))
