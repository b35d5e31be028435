"""candidate-gen serving learned models from a real MLflow registry: loading by
alias, learned sources on every surface, and hot reload when the alias moves."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from fastapi.testclient import TestClient

from ml.training.interactions import load_interactions
from ml.training.pipeline import train_all
from services.candidate_gen.app import build_app
from services.candidate_gen.config import Settings
from services.common.models.registry import CHALLENGER, CHAMPION, SOURCES, Registry
from tests.conftest import make_mlflow_store

pytestmark = pytest.mark.timeout(600)
TAG = uuid.uuid4().hex[:6].upper()
AUDIO = [
    "Wireless Bluetooth Earphones",
    "In Ear Wired Earphones Bass",
    "Noise Cancelling Headphones",
]
KITCHEN = ["Non Stick Frying Pan", "Stainless Steel Pressure Cooker", "Electric Kettle 1.5 L"]
SHOES = ["Running Shoes Lightweight", "Trail Running Shoes", "Canvas Sneakers White"]
GROUPS = {"audio": AUDIO, "kitchen": KITCHEN, "shoes": SHOES}


def P(group: int, i: int) -> str:  # noqa: N802 - reads like a product id
    return f"LM{TAG}{group}{i}"


async def _seed(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    now = datetime.now(UTC)
    try:
        products = [
            (P(g, i), name, f"lm-{key}", f"lm-{key}-sub", 4.0, 10 + i, 100.0 * (g + 1))
            for g, (key, names) in enumerate(GROUPS.items())
            for i, name in enumerate(names)
        ]
        await conn.executemany(
            "INSERT INTO products (product_id, name, main_category, sub_category, rating,"
            " no_of_ratings, price, actual_price, discount_ratio, in_stock)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 0.1, true)",
            products,
        )
        events = []
        for u in range(24):  # each user shops one group, with a repeat visitor pattern
            g = u % 3
            for i in range(3):
                if (u + i) % 4 == 3:
                    continue
                for kind in ("view", "add_to_cart", "purchase")[: 1 + (u + i) % 3]:
                    ts = now - timedelta(hours=u + i)
                    events.append((f"lm-{TAG}-{u}-{i}-{kind}", f"lm-{TAG}-u{u}", kind, P(g, i), ts))
        await conn.executemany(
            "INSERT INTO events (event_id, user_id, event_type, product_id, ts)"
            " VALUES ($1, $2, $3, $4, $5)",
            events,
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def registry_uri(pg_url, tmp_path_factory):
    asyncio.run(_seed(pg_url))
    uri = make_mlflow_store(tmp_path_factory.mktemp("mlflow-cg"))
    data = load_interactions(pg_url)
    train_all(data, tracking_uri=uri, quick=True)
    return uri


@pytest.fixture(scope="module")
def client(registry_uri, pg_url, redis_url, redis_prefix, tmp_path_factory):
    settings = Settings(
        database_url=pg_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        mlflow_tracking_uri=registry_uri,
        model_poll_seconds=0.2,
        model_cache_dir=str(tmp_path_factory.mktemp("models")),
    )
    with TestClient(build_app(settings)) as c:
        deadline = time.monotonic() + 120
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, c.get("/readyz").json()
            time.sleep(0.2)
        yield c


def post(client, headers=None, **body) -> dict:
    resp = client.post("/v1/candidates", json=body, headers=headers or {})
    assert resp.status_code == 200, resp.text
    return resp.json()


def user(u: int) -> dict:
    g = u % 3
    return {
        "user_id": f"lm-{TAG}-u{u}",
        "known": True,
        "recent_items": [P(g, 0), P(g, 1)],
        "category_affinity": {f"lm-{list(GROUPS)[g]}": 1.0},
    }


def test_readiness_reports_the_loaded_versions(client):
    body = client.get("/readyz").json()
    assert body["checks"]["models"] == "ok"
    champions = body["details"]["models"][CHAMPION]
    assert set(champions) == set(SOURCES)
    assert all(label.startswith("recsys-") for label in champions.values())


def test_home_uses_als_and_two_tower_with_versions(client):
    resp = post(client, surface="home", user=user(0), limit=50)
    sources = {c["source"] for c in resp["candidates"]}
    assert {"als", "two_tower"} <= sources, sources
    versions = resp["model_versions"]
    assert versions["als"].startswith("recsys-als/")
    assert versions["two_tower"].startswith("recsys-two-tower/")
    assert versions["association"].startswith("recsys-association-rules/")
    # user 0 shops audio: the one audio item not in their recent items leads among ours
    als = [c["product_id"] for c in resp["candidates"] if c["source"] == "als"]
    ours = [p for p in als if p.startswith(f"LM{TAG}")]
    assert ours and ours[0] == P(0, 2), als


def test_product_page_has_semantic_neighbours(client):
    resp = post(client, surface="product", product_ids=[P(0, 0)], limit=50)
    semantic = [c for c in resp["candidates"] if c["source"] == "semantic"]
    ours = [c["product_id"] for c in semantic if c["product_id"].startswith(f"LM{TAG}")]
    assert ours[:2] and set(ours[:2]) <= {P(0, 1), P(0, 2)}, ours
    assert all(c["anchor"] == P(0, 0) for c in semantic)


def test_search_is_semantic_and_expanded(client):
    # Other tests' products share the database: look at ours among the matches.
    resp = post(client, surface="search", query="earbuds", limit=200)
    assert resp["fallback_reason"] is None
    semantic = [c["product_id"] for c in resp["candidates"] if c["source"] == "semantic"]
    ours = [p for p in semantic if p.startswith(f"LM{TAG}")]
    audio = {P(0, 0), P(0, 1), P(0, 2)}
    assert ours and set(ours[:2]) <= audio, semantic  # earphones before pans and shoes
    assert resp["expanded_query"], resp


def test_alias_move_is_picked_up_without_failed_requests(client, registry_uri, pg_url):
    before = post(client, surface="home", user=user(1), limit=20)["model_versions"]["als"]
    failures, answers, stop = [], [], threading.Event()

    def hammer():
        while not stop.is_set():
            resp = client.post(
                "/v1/candidates", json={"surface": "home", "user": user(1), "limit": 20}
            )
            if resp.status_code != 200:
                failures.append(resp.status_code)
            else:
                answers.append(resp.json()["model_versions"]["als"])

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        data = load_interactions(pg_url)
        [result] = train_all(
            data, tracking_uri=registry_uri, sources=("als",), quick=True, force=True
        )
        moved = f"recsys-als/{result.registration.version}"
        assert moved != before
        deadline = time.monotonic() + 60
        while not answers or answers[-1] != moved:
            assert time.monotonic() < deadline, answers[-3:]
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join()
    assert not failures
    assert before in answers and answers[-1] == moved  # served both, switched once
    switch = answers.index(moved)
    assert all(a == moved for a in answers[switch:])


def test_challenger_serves_its_variant_only(client, registry_uri, pg_url):
    data = load_interactions(pg_url)
    [result] = train_all(
        data, tracking_uri=registry_uri, sources=("als",), quick=True, alias=CHALLENGER
    )
    label = f"recsys-als/{result.registration.version}"
    assert Registry(registry_uri).resolve("als", CHALLENGER).version == result.registration.version
    deadline = time.monotonic() + 60
    while True:
        challenger = post(
            client, headers={"x-variant": CHALLENGER}, surface="home", user=user(2), limit=10
        )
        if challenger["model_versions"]["als"] == label:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    control = post(client, headers={"x-variant": "control"}, surface="home", user=user(2), limit=10)
    assert control["model_versions"]["als"] != label
