"""Shared fixtures: a real Postgres database and a Redis key prefix per test run.

DATABASE_URL / REDIS_URL point at servers when set (CI); otherwise embedded
servers are started under .local/ (see deploy/local/infra.py). Each run gets its
own database and its own Redis prefix, both removed at the end.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
RUN_ID = uuid.uuid4().hex[:10]


def pytest_collection_modifyitems(items):
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def state_dir() -> Path:
    path = ROOT / ".local"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def pg_server_url(state_dir) -> str:
    from deploy.local.infra import ensure_postgres

    return ensure_postgres(state_dir)


@pytest.fixture(scope="session")
def pg_url(pg_server_url) -> str:
    """A migrated, empty database of this run's own."""
    from deploy.local.infra import create_database, drop_database, with_database
    from services.common.db import migrate

    name = f"recsys_test_{RUN_ID}"
    asyncio.run(create_database(pg_server_url, name))
    url = with_database(pg_server_url, name)
    asyncio.run(migrate(url))
    yield url
    asyncio.run(drop_database(pg_server_url, name))


@pytest.fixture(scope="session")
def redis_url(state_dir) -> str:
    from deploy.local.infra import ensure_redis

    return ensure_redis(state_dir)


@pytest.fixture(scope="session")
def redis_prefix(redis_url) -> str:
    prefix = f"test:{RUN_ID}:"
    yield prefix
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


@pytest.fixture(scope="session")
def service_env(pg_url, redis_url, redis_prefix) -> dict[str, str]:
    """Environment for settings objects and service processes of this run."""
    return {"DATABASE_URL": pg_url, "REDIS_URL": redis_url, "REDIS_PREFIX": redis_prefix}


@pytest.fixture
def amazon_csv() -> Path:
    path = SHARED_DATA / "amazon" / "amazon-products.csv"
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (see ../shared/data/README.md)")
    return path


def make_mlflow_store(root: Path) -> str:
    """A real MLflow tracking store and model registry: sqlite backend, artifacts
    under `root` (the store `make up` serves over HTTP)."""
    import mlflow

    from ml.training.registry import EXPERIMENT

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment(EXPERIMENT, artifact_location=(root / "artifacts").as_uri())
    return uri


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory) -> str:
    """This run's own MLflow store (registered models are shared within the run)."""
    return make_mlflow_store(tmp_path_factory.mktemp("mlflow"))
