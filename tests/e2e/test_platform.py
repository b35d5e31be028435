"""End to end: the five services as separate processes on real Postgres and Redis,
driven only through the public gateway API (plus event-ingest's history read)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import asyncpg
import httpx
import pytest
import redis

from deploy.local.stack import (
    ROOT,
    SERVICES,
    prepare_feature_store,
    service_env,
    start_mlflow,
    start_services,
    stop_pids,
    wait_ready,
)
from tests.conftest import RUN_ID
from tests.integration.test_ranking import free_port

# The stack fixture (demo data, feature store, MLflow, quick training, five services)
# counts against the first test's timeout.
pytestmark = pytest.mark.timeout(900)
PORTS = {spec.name: 18000 + (spec.port - 8000) for spec in SERVICES}
GATEWAY = f"http://127.0.0.1:{PORTS['gateway']}"
INGEST = f"http://127.0.0.1:{PORTS['event-ingest']}"
KEY = {"X-API-Key": "dev-key"}
ADMIN = {"X-API-Key": "dev-admin-key"}
SURFACE_PATHS = ("home", "product", "search", "cart", "frequently-bought-together")


@pytest.fixture(scope="module")
def stack(service_env, tmp_path_factory):
    env = service_env_for_test(service_env)
    subprocess.run(
        [sys.executable, "-m", "ml.cli", "load-demo", "--products", "600", "--users", "400"],
        env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    prepare_feature_store(env)
    run_dir = tmp_path_factory.mktemp("stack")
    # As `make up`: an MLflow server (sqlite registry) and quick models trained into it.
    # A free port: start_mlflow reuses a server that already answers on its port.
    env["MLFLOW_TRACKING_URI"] = start_mlflow(run_dir, port=free_port())
    env["MODEL_POLL_SECONDS"] = "2"
    subprocess.run(
        [sys.executable, "-m", "ml.cli", "train", "--quick"], env=env, cwd=ROOT, check=True
    )
    procs = start_services(env, PORTS, run_dir)
    try:
        wait_ready(PORTS, timeout=180, procs=procs)
        yield {"procs": procs, "env": env}
    finally:
        stop_pids(run_dir)
        from ml.feature_store import delete_online_keys

        delete_online_keys(env["FEAST_PROJECT"], env["REDIS_URL"])


def service_env_for_test(base: dict[str, str]) -> dict[str, str]:
    env = service_env(base, PORTS)
    env["GATEWAY_CACHE_TTL_SECONDS"] = "30"
    env["FEAST_PROJECT"] = f"recsys_e2e_{RUN_ID}"
    return env


@pytest.fixture(scope="module")
def client(stack):
    with httpx.Client(base_url=GATEWAY, headers=KEY, timeout=10) as c:
        yield c


def known_user(client) -> str:
    return "u000007"


def some_products(client, n: int = 3) -> list[str]:
    body = client.get("/v1/recommendations/home", params={"k": 20}).json()
    return [item["product_id"] for item in body["items"]][:n]


def assert_valid_response(body: dict, surface: str, k: int) -> None:
    assert body["surface"] == surface
    assert body["request_id"]
    assert len(body["items"]) == k, body
    assert [i["position"] for i in body["items"]] == list(range(1, k + 1))
    ids = [i["product_id"] for i in body["items"]]
    assert len(set(ids)) == k
    for item in body["items"]:
        assert item["reasons"] and all(isinstance(r, str) and r for r in item["reasons"])
        assert item["sources"] and item["name"]


def test_every_surface_returns_k_items_with_reasons(client):
    user = known_user(client)
    anchor, other, _ = some_products(client)
    k = 8
    cases = [
        ("home", "/v1/recommendations/home", {"user_id": user, "k": k}),
        ("home", "/v1/recommendations/home", {"user_id": "brand-new-user", "k": k}),
        ("product", f"/v1/recommendations/product/{anchor}", {"user_id": user, "k": k}),
        ("search", "/v1/recommendations/search", {"q": "wireless earbuds", "k": k}),
        ("cart", "/v1/recommendations/cart", {"product_ids": f"{anchor},{other}", "k": k}),
        (
            "frequently_bought_together",
            f"/v1/recommendations/frequently-bought-together/{anchor}",
            {"k": k},
        ),
    ]
    for surface, path, params in cases:
        response = client.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        assert_valid_response(response.json(), surface, k)
        assert response.json()["fallback_reason"] in (None, "no_association_rules")
    response = client.post(
        "/v1/recommendations/cart", json={"product_ids": [anchor], "user_id": user, "k": k}
    )
    assert response.status_code == 200
    assert_valid_response(response.json(), "cart", k)
    product_items = client.get(f"/v1/recommendations/product/{anchor}", params={"k": k}).json()
    assert anchor not in [i["product_id"] for i in product_items["items"]]


def test_learned_models_serve_with_their_versions(client):
    """Quick models trained into MLflow at startup serve every surface: their sources
    appear on items and their registry versions on the response and in /readyz."""
    ready = httpx.get(f"http://127.0.0.1:{PORTS['candidate-gen']}/readyz").json()
    champions = ready["details"]["models"]["champion"]
    assert set(champions) == {"als", "two_tower", "content_embeddings", "association_rules"}
    assert champions["als"].startswith("recsys-als/")

    home = client.get("/v1/recommendations/home", params={"user_id": "u000007", "k": 20}).json()
    assert home["model_versions"]["als"] == champions["als"]
    assert home["model_versions"]["two_tower"] == champions["two_tower"]
    home_sources = {s for item in home["items"] for s in item["sources"]}
    assert home_sources & {"als", "two_tower"}, home

    anchor = home["items"][0]["product_id"]
    product = client.get(f"/v1/recommendations/product/{anchor}", params={"k": 20}).json()
    assert "semantic" in {s for item in product["items"] for s in item["sources"]}, product

    search = client.get("/v1/recommendations/search", params={"q": "earbuds", "k": 10}).json()
    assert search["fallback_reason"] is None
    assert "semantic" in {s for item in search["items"] for s in item["sources"]}, search


def test_events_show_in_history_and_change_home(client):
    user = "e2e-shopper-1"
    before = client.get("/v1/recommendations/home", params={"user_id": user, "k": 10}).json()
    assert before["fallback_reason"] is None
    # Browse and buy in one category the cold-start list does not lead with.
    search = client.get("/v1/recommendations/search", params={"q": "running shoes", "k": 5}).json()
    targets = [i["product_id"] for i in search["items"]][:3]
    events = [
        {"event_id": f"e2e-{n}-{t}", "user_id": user, "event_type": t, "product_id": pid}
        for n, pid in enumerate(targets)
        for t in ("view", "click", "add_to_cart", "purchase")
    ]
    events.append(
        {"event_id": "e2e-search", "user_id": user, "event_type": "search", "query": "running"}
    )
    response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events)
    # Replaying the batch is idempotent.
    assert client.post("/v1/events", json={"events": events}).json()["duplicates"] == len(events)

    history = httpx.get(f"{INGEST}/v1/users/{user}/history", params={"days": 30}).json()
    assert {e["event_id"] for e in history["events"]} == {e["event_id"] for e in events}

    # Online features are pushed right after the commit, asynchronously: the contract is
    # "visible within a second", so poll for up to three.
    before_ids = [i["product_id"] for i in before["items"]]
    deadline = time.monotonic() + 3.0
    while True:
        after = client.get("/v1/recommendations/home", params={"user_id": user, "k": 10}).json()
        after_ids = [i["product_id"] for i in after["items"]]
        if after_ids != before_ids or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after_ids != before_ids
    assert not set(targets) & set(after_ids), "purchased items must not be recommended"
    reasons = " ".join(r for i in after["items"] for r in i["reasons"])
    # reasons that point at the new activity (the two-tower reason leads with the
    # tuned home profile: its user tower reads the recent items)
    personal = ("Because you viewed", "Often bought with", "from your recent activity")
    assert any(p in reasons for p in personal), reasons


INVALID = [
    ("GET", "/v1/recommendations/home", {"k": 0}, None, "k"),
    ("GET", "/v1/recommendations/home", {"k": 101}, None, "k"),
    ("GET", "/v1/recommendations/home", {"k": "ten"}, None, "k"),
    ("GET", "/v1/recommendations/home", {"user_id": "bad user!"}, None, "user_id"),
    ("GET", "/v1/recommendations/product/not-an-id", {}, None, "product_id"),
    ("GET", "/v1/recommendations/search", {"q": "   "}, None, "q"),
    ("GET", "/v1/recommendations/search", {"q": "x" * 201}, None, "q"),
    ("GET", "/v1/recommendations/search", {}, None, "q"),
    ("GET", "/v1/recommendations/cart", {"product_ids": "lower-case"}, None, "product_ids"),
    ("GET", "/v1/recommendations/frequently-bought-together/ABC", {}, None, "product_id"),
    ("POST", "/v1/recommendations/cart", {}, b"{not json", None),
    ("POST", "/v1/recommendations/cart", {}, b'{"product_ids": []}', "product_ids"),
    ("POST", "/v1/events", {}, b"{not json", None),
    ("POST", "/v1/events", {}, b'{"user_id": "u1", "event_type": "teleport"}', "event_type"),
    ("POST", "/v1/events", {}, b'{"user_id": "u1", "event_type": "view"}', None),
    ("POST", "/v1/events", {}, b'{"user_id": "u1", "event_type": "search", "query": " "}', None),
]


@pytest.mark.parametrize(("method", "path", "params", "body", "field"), INVALID)
def test_invalid_input_gets_uniform_4xx(client, method, path, params, body, field):
    response = client.request(
        method, path, params=params, content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    if field:
        assert error["field"] == field, error


def test_oversized_batch_unknown_product_and_keys(client):
    event = {"user_id": "u1", "event_type": "view", "product_id": "ZZZZZZZZZ9"}
    too_many = client.post("/v1/events", json={"events": [event] * 1001})
    assert too_many.status_code == 413 and too_many.json()["error"]["field"] == "events"
    unknown = client.post("/v1/events", json=event)
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "product_id"
    missing = client.get("/v1/recommendations/product/ZZZZZZZZZ9")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "product_not_found"
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = httpx.get(f"{GATEWAY}/v1/recommendations/home", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    assert client.delete("/v1/users/u000001").status_code == 403


def test_erasure_leaves_no_rows_and_no_keys(client, stack):
    user = "e2e-erase-me"
    pid = some_products(client, 1)[0]
    events = [
        {"event_id": f"erase-{t}", "user_id": user, "event_type": t, "product_id": pid}
        for t in ("view", "add_to_cart", "purchase")
    ]
    assert client.post("/v1/events", json={"events": events}).status_code == 200
    client.get("/v1/recommendations/home", params={"user_id": user})  # fills the cache

    response = client.delete(f"/v1/users/{user}", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["events_deleted"] == 3

    env = stack["env"]

    async def rows() -> int:
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            events_left = await conn.fetchval("SELECT count(*) FROM events WHERE user_id=$1", user)
            ids_left = await conn.fetchval("SELECT count(*) FROM event_ids WHERE user_id=$1", user)
            return events_left + ids_left
        finally:
            await conn.close()

    assert asyncio.run(rows()) == 0
    r = redis.Redis.from_url(env["REDIS_URL"])
    assert list(r.scan_iter(match=f"{env['REDIS_PREFIX']}user:{user}:*")) == []
    history = httpx.get(f"{INGEST}/v1/users/{user}/history").json()
    assert history["events"] == []


def test_gateway_degrades_when_candidate_gen_is_killed(client, stack):
    proc = stack["procs"]["candidate-gen"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for params in ({"user_id": "u000003", "k": 5}, {"k": 5}):
        response = client.get("/v1/recommendations/home", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["fallback_reason"] and body["fallback_reason"].startswith("candidate_gen")
        assert len(body["items"]) == 5
        assert all(item["reasons"] for item in body["items"])
