"""Gateway against real Redis, with the four downstream services replaced by small FastAPI
apps served by uvicorn on free ports (the real ones are covered by the e2e tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid

import orjson
import pytest
import redis as sync_redis
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import ValidationError

from services.common.contracts import (
    CandidateRequest,
    EventBatch,
    RankedItem,
    RankRequest,
    UserFeaturesRequest,
)
from services.gateway.app import build_app
from services.gateway.config import Settings

KEY = {"X-API-Key": "dev-key"}
ADMIN = {"X-API-Key": "dev-admin-key"}
P1, P2, MISSING = "B000000001", "B000000002", "B0000404XX"
CATALOG = [f"C{i:09d}" for i in range(1, 61)]
FALLBACK = [f"F{i:09d}" for i in range(1, 31)]


# --------------------------------------------------------------------------- fakes


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status)


class Fakes:
    """Mutable behaviour of the fake downstreams plus what they received."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.mode: dict[str, str] = {}  # service -> "ok" | "timeout" | "500"
        self.calls: dict[str, list] = {"features": [], "candidates": [], "rank": [], "ingest": []}
        self.headers: dict[str, dict] = {}

    async def misbehave(self, service: str):
        mode = self.mode.get(service, "ok")
        if mode == "timeout":
            await asyncio.sleep(2.5)
        if mode == "500":
            return _error(500, "internal_error", "boom")
        return None


def features_app(fakes: Fakes) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.post("/v1/features/users")
    async def users(body: UserFeaturesRequest):
        fakes.calls["features"].append(body)
        if (bad := await fakes.misbehave("features")) is not None:
            return bad
        return {
            "users": [
                {"user_id": u, "known": u.startswith("known"), "recent_items": [P1]}
                if u.startswith("known")
                else {"user_id": u, "known": False}
                for u in body.user_ids
            ]
        }

    return app


def candidates_app(fakes: Fakes) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.post("/v1/candidates")
    async def candidates(request: Request, body: CandidateRequest):
        fakes.calls["candidates"].append(body)
        fakes.headers["candidates"] = dict(request.headers)
        if (bad := await fakes.misbehave("candidates")) is not None:
            return bad
        if MISSING in body.product_ids:
            return _error(404, "product_not_found", f"unknown product {MISSING}", "product_id")
        reason = None
        source = "content" if body.product_ids else "popular"
        if body.user is None or not body.user.known:
            source = "trending"
        if body.query == "nomatch":
            reason, source = "no_search_match", "popular"
        cands = [
            {"product_id": p, "source": source, "score": 1.0 - i / 100}
            for i, p in enumerate(CATALOG)
            if p not in body.product_ids
        ]
        return {"candidates": cands, "fallback_reason": reason, "model_versions": {"als": "3"}}

    return app


def ranking_app(fakes: Fakes) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.post("/v1/rank")
    async def rank(body: RankRequest):
        fakes.calls["rank"].append(body)
        if (bad := await fakes.misbehave("rank")) is not None:
            return bad
        items = [
            RankedItem(
                product_id=c.product_id,
                name=f"name {c.product_id}",
                main_category="cat",
                sub_category="sub",
                price=10.0,
                score=c.score,
                position=i + 1,
                reasons=[f"reason_{c.source.value}"],
                sources=[c.source.value],
            ).model_dump()
            for i, c in enumerate(body.candidates[: body.k])
        ]
        return {"profile": body.surface.value, "items": items}

    return app


def ingest_app(fakes: Fakes) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.post("/v1/events")
    async def events(request: Request):
        raw = await request.body()
        fakes.calls["ingest"].append(raw)
        if (bad := await fakes.misbehave("ingest")) is not None:
            return bad
        payload = orjson.loads(raw)
        if isinstance(payload, dict) and "events" not in payload:
            payload = {"events": [payload]}
        try:
            batch = EventBatch.model_validate(payload)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            return _error(422, "validation_error", err["msg"], field)
        ids = [e.event_id or uuid.uuid4().hex for e in batch.events]
        return {"accepted": len(ids), "duplicates": 0, "event_ids": ids}

    @app.delete("/v1/users/{user_id}")
    async def erase(user_id: str):
        fakes.calls["ingest"].append(("delete", user_id))
        if (bad := await fakes.misbehave("ingest")) is not None:
            return bad
        return {"user_id": user_id, "events_deleted": 3, "keys_deleted": 2}

    return app


class Server:
    """uvicorn in a background thread on a free port."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app, log_config=None, lifespan="off", timeout_graceful_shutdown=1, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "fake server did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fakes():
    return Fakes()


@pytest.fixture(scope="module")
def servers(fakes):
    started = {
        "feature_serving_url": Server(features_app(fakes)),
        "candidate_gen_url": Server(candidates_app(fakes)),
        "ranking_url": Server(ranking_app(fakes)),
        "event_ingest_url": Server(ingest_app(fakes)),
    }
    yield {name: s.url for name, s in started.items()}
    for s in started.values():
        s.stop()


def fallback_items() -> list[dict]:
    return [
        RankedItem(
            product_id=p,
            name=f"fallback {p}",
            main_category="cat",
            sub_category="sub",
            score=1.0,
            position=i + 1,
            reasons=["trending_now"],
            sources=["trending"],
        ).model_dump()
        for i, p in enumerate(FALLBACK)
    ]


@pytest.fixture
def prefix(redis_url, redis_prefix):
    """A key prefix per test (under the run's prefix, so the session fixture cleans up)."""
    return f"{redis_prefix}gw{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def rds(redis_url):
    client = sync_redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def make_gateway(servers, fakes, redis_url, prefix, rds):
    """Start a gateway (lifespan included) with the fallback list in Redis; overrides
    go to Settings."""
    fakes.reset()
    clients: list[TestClient] = []

    def make(fallback: bool = True, **overrides) -> TestClient:
        base = {
            "redis_url": redis_url,
            "redis_prefix": prefix,
            # Generous: the fakes share the test process (GIL); a 0.3 s budget flaked.
            "features_timeout_seconds": 1.0,
            "candidates_timeout_seconds": 1.0,
            "ranking_timeout_seconds": 1.0,
            **servers,
        }
        settings = Settings(**{**base, **overrides})
        if fallback:
            rds.set(settings.keys.fallback_items, orjson.dumps(fallback_items()))
        client = TestClient(build_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def gw(make_gateway):
    return make_gateway()


def assert_error(resp, status: int, code: str | None = None, field: str | None = None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    if field is not None:
        assert body["error"]["field"] == field
    return body["error"]


def assert_recs(resp, surface: str, k: int, fallback_reason: str | None = None):
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["surface"] == surface
    assert body["variant"] == "control" and body["experiment"] is None
    assert body["request_id"] == resp.headers["x-request-id"]
    assert body["fallback_reason"] == fallback_reason
    assert len(body["items"]) == k
    assert [i["position"] for i in body["items"]] == list(range(1, k + 1))
    assert all(i["reasons"] for i in body["items"])
    return body


# --------------------------------------------------------------------------- surfaces

SURFACES = [
    ("home", "/v1/recommendations/home?user_id=known_1&k=7", None),
    ("product", f"/v1/recommendations/product/{P1}?user_id=known_1&k=7", [P1]),
    ("search", "/v1/recommendations/search?q=%20red%20shoes%20&user_id=known_1&k=7", []),
    ("cart", f"/v1/recommendations/cart?product_ids={P1},{P2}&user_id=known_1&k=7", [P1, P2]),
    (
        "frequently_bought_together",
        f"/v1/recommendations/frequently-bought-together/{P1}?k=7",
        [P1],
    ),
]


@pytest.mark.parametrize(("surface", "url", "anchors"), SURFACES)
def test_each_surface_returns_k_ranked_items(gw, fakes, surface, url, anchors):
    body = assert_recs(gw.get(url, headers=KEY), surface, 7)
    assert body["model_versions"] == {"als": "3"}
    assert all(i["product_id"] in CATALOG for i in body["items"])
    cand = fakes.calls["candidates"][-1]
    assert cand.surface == surface
    assert cand.product_ids == (anchors or [])
    assert fakes.headers["candidates"]["x-variant"] == "control"
    assert fakes.headers["candidates"]["x-request-id"] == body["request_id"]
    rank = fakes.calls["rank"][-1]
    assert rank.k == 7 and rank.context_product_ids == (anchors or [])
    if surface == "search":
        assert cand.query == "red shoes" and rank.query == "red shoes"
    if surface != "frequently_bought_together":
        assert body["user_id"] == "known_1"
        assert cand.user.known and rank.user.known


def test_post_cart_and_default_k(gw, fakes):
    resp = gw.post("/v1/recommendations/cart", json={"product_ids": [P1, P2]}, headers=KEY)
    body = assert_recs(resp, "cart", 10)
    assert body["user_id"] is None
    assert fakes.calls["candidates"][-1].product_ids == [P1, P2]


def test_anonymous_and_unknown_users_are_cold_start(gw, fakes):
    assert_recs(gw.get("/v1/recommendations/home", headers=KEY), "home", 10)
    assert fakes.calls["features"] == []  # no user, no feature read
    assert fakes.calls["candidates"][-1].user is None
    body = assert_recs(gw.get("/v1/recommendations/home?user_id=new_user", headers=KEY), "home", 10)
    assert body["user_id"] == "new_user"
    sent = fakes.calls["candidates"][-1]
    assert sent.user_id == "new_user" and sent.user.known is False
    assert all(i["sources"] == ["trending"] for i in body["items"])


def test_search_without_match_passes_reason(gw):
    body = assert_recs(
        gw.get("/v1/recommendations/search?q=nomatch&k=3", headers=KEY),
        "search",
        3,
        "no_search_match",
    )
    assert all(i["product_id"] in CATALOG for i in body["items"])


def test_unknown_product_is_404_passthrough(gw):
    for url in (
        f"/v1/recommendations/product/{MISSING}",
        f"/v1/recommendations/frequently-bought-together/{MISSING}",
        f"/v1/recommendations/cart?product_ids={P1},{MISSING}",
    ):
        err = assert_error(gw.get(url, headers=KEY), 404, "product_not_found", "product_id")
        assert MISSING in err["message"]


# --------------------------------------------------------------------------- degraded mode


@pytest.mark.parametrize(
    ("service", "mode", "reason"),
    [
        ("candidates", "timeout", "candidate_gen_timeout"),
        ("candidates", "500", "candidate_gen_unavailable"),
        ("rank", "timeout", "ranking_timeout"),
        ("rank", "500", "ranking_unavailable"),
    ],
)
def test_downstream_failure_serves_fallback(gw, fakes, service, mode, reason):
    fakes.mode[service] = mode
    resp = gw.get(f"/v1/recommendations/product/{FALLBACK[0]}?user_id=known_1&k=5", headers=KEY)
    body = assert_recs(resp, "product", 5, reason)
    # The context product is excluded and positions are re-numbered.
    assert [i["product_id"] for i in body["items"]] == FALLBACK[1:6]
    assert body["items"][0]["reasons"] == ["trending_now"]
    metrics = gw.get("/metrics").text
    assert f'recsys_fallbacks_total{{reason="{reason}",surface="product"}}' in metrics


@pytest.mark.parametrize(
    ("setting", "reason"),
    [("candidate_gen_url", "candidate_gen_unavailable"), ("ranking_url", "ranking_unavailable")],
)
def test_connection_refused_serves_fallback(make_gateway, setting, reason):
    gw = make_gateway(**{setting: closed_port_url()})
    for url in (
        "/v1/recommendations/home?k=4",
        "/v1/recommendations/search?q=shoes&k=4&user_id=known_2",
        f"/v1/recommendations/cart?product_ids={P1}&k=4",
    ):
        body = assert_recs(gw.get(url, headers=KEY), url.split("/")[3].split("?")[0], 4, reason)
        assert [i["product_id"] for i in body["items"]] == FALLBACK[:4]


def test_features_failure_continues_as_cold_start(gw, fakes):
    fakes.mode["features"] = "500"
    body = assert_recs(
        gw.get("/v1/recommendations/home?user_id=known_1&k=3", headers=KEY),
        "home",
        3,
        "features_unavailable",
    )
    assert all(i["product_id"] in CATALOG for i in body["items"])  # ranked, not fallback
    assert fakes.calls["candidates"][-1].user.known is False


def test_fallback_survives_redis_outage(make_gateway, fakes):
    gw = make_gateway(fallback_refresh_seconds=0.05)
    store = gw.app.state.fallback
    assert len(store.items) == len(FALLBACK)
    good_redis = store._redis
    from services.common.cache import create_redis

    store._redis = create_redis(closed_port_url().replace("http", "redis"))
    try:
        time.sleep(0.3)  # several background refreshes fail meanwhile
        fakes.mode["candidates"] = "500"
        body = assert_recs(
            gw.get("/v1/recommendations/home?k=2", headers=KEY),
            "home",
            2,
            "candidate_gen_unavailable",
        )
        assert [i["product_id"] for i in body["items"]] == FALLBACK[:2]
    finally:
        store._redis = good_redis


def test_redis_down_never_fails_requests(make_gateway):
    gw = make_gateway(fallback=False, redis_url="redis://127.0.0.1:1/0")
    assert_recs(gw.get("/v1/recommendations/home?user_id=known_1&k=3", headers=KEY), "home", 3)
    assert_recs(gw.get("/v1/recommendations/home?user_id=known_1&k=3", headers=KEY), "home", 3)
    ready = gw.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["fallback"].startswith("error")


def test_fallback_list_written_after_start_is_picked_up(make_gateway, fakes, rds):
    gw = make_gateway(fallback=False)
    fakes.mode["candidates"] = "500"
    rds.set(gw.app.state.settings.keys.fallback_items, orjson.dumps(fallback_items()))
    time.sleep(1.1)  # on-demand refresh is rate limited to once a second
    assert_recs(
        gw.get("/v1/recommendations/home?k=3", headers=KEY), "home", 3, "candidate_gen_unavailable"
    )


# --------------------------------------------------------------------------- validation

BAD_QUERIES = [
    ("/v1/recommendations/home?k=0", "k"),
    ("/v1/recommendations/home?k=101", "k"),
    ("/v1/recommendations/home?k=abc", "k"),
    ("/v1/recommendations/home?user_id=bad%20id", "user_id"),
    ("/v1/recommendations/home?user_id=" + "u" * 65, "user_id"),
    (f"/v1/recommendations/product/{P1}?k=0", "k"),
    (f"/v1/recommendations/product/{P1}?k=101", "k"),
    (f"/v1/recommendations/product/{P1}?k=abc", "k"),
    (f"/v1/recommendations/product/{P1}?user_id=%C3%A9", "user_id"),
    ("/v1/recommendations/product/b000000001", "product_id"),
    ("/v1/recommendations/product/B00000001", "product_id"),
    ("/v1/recommendations/product/B0000000011", "product_id"),
    ("/v1/recommendations/search", "q"),
    ("/v1/recommendations/search?q=", "q"),
    ("/v1/recommendations/search?q=%20%20%09", "q"),
    ("/v1/recommendations/search?q=" + "a" * 201, "q"),
    ("/v1/recommendations/search?q=shoes&k=0", "k"),
    ("/v1/recommendations/search?q=shoes&k=101", "k"),
    ("/v1/recommendations/search?q=shoes&k=abc", "k"),
    ("/v1/recommendations/search?q=shoes&user_id=a.b", "user_id"),
    ("/v1/recommendations/cart", "product_ids"),
    ("/v1/recommendations/cart?product_ids=", "product_ids"),
    ("/v1/recommendations/cart?product_ids=nope", "product_ids"),
    (f"/v1/recommendations/cart?product_ids={P1},x", "product_ids"),
    (
        "/v1/recommendations/cart?product_ids=" + ",".join(f"B{i:09d}" for i in range(101)),
        "product_ids",
    ),
    (f"/v1/recommendations/cart?product_ids={P1}&k=0", "k"),
    (f"/v1/recommendations/cart?product_ids={P1}&k=101", "k"),
    (f"/v1/recommendations/cart?product_ids={P1}&k=abc", "k"),
    (f"/v1/recommendations/cart?product_ids={P1}&user_id=x%2Fy", "user_id"),
    ("/v1/recommendations/frequently-bought-together/short", "product_id"),
    (f"/v1/recommendations/frequently-bought-together/{P1}?k=0", "k"),
    (f"/v1/recommendations/frequently-bought-together/{P1}?k=101", "k"),
    (f"/v1/recommendations/frequently-bought-together/{P1}?k=abc", "k"),
]


@pytest.mark.parametrize(("url", "field"), BAD_QUERIES)
def test_invalid_query_is_422(gw, fakes, url, field):
    assert_error(gw.get(url, headers=KEY), 422, "validation_error", field)
    assert fakes.calls["candidates"] == []  # rejected before any downstream call


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"", 400, None),
        (b"[]", 422, None),
        (b'{"product_ids": []}', 422, "product_ids"),
        (b'{"product_ids": ["abc"]}', 422, "product_ids[0]"),
        (b'{"product_ids": ["B000000001"], "k": 0}', 422, "k"),
        (b'{"product_ids": ["B000000001"], "k": 101}', 422, "k"),
        (b'{"product_ids": ["B000000001"], "k": "abc"}', 422, "k"),
        (b'{"product_ids": ["B000000001"], "user_id": "a b"}', 422, "user_id"),
        (b'{"product_ids": ["B000000001"], "surprise": 1}', 422, "surprise"),
    ],
)
def test_invalid_cart_body(gw, body, status, field):
    resp = gw.post("/v1/recommendations/cart", content=body, headers=KEY)
    err = assert_error(resp, status, "invalid_json" if status == 400 else "validation_error")
    assert err["field"] == field


ENDPOINTS = [
    ("GET", "/v1/recommendations/home"),
    ("GET", f"/v1/recommendations/product/{P1}"),
    ("GET", "/v1/recommendations/search?q=x"),
    ("GET", f"/v1/recommendations/cart?product_ids={P1}"),
    ("POST", "/v1/recommendations/cart"),
    ("GET", f"/v1/recommendations/frequently-bought-together/{P1}"),
    ("POST", "/v1/events"),
    ("DELETE", "/v1/users/u1"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": ""}, {"X-API-Key": "wrong"}])
def test_missing_or_wrong_key_is_401(gw, fakes, method, url, headers):
    resp = gw.request(method, url, headers=headers, content=b"{malformed")
    assert_error(resp, 401, "unauthorized", "X-API-Key")
    assert all(not calls for calls in fakes.calls.values())


def test_ops_endpoints_need_no_key(gw):
    assert gw.get("/healthz").status_code == 200
    assert gw.get("/metrics").status_code == 200
    assert gw.get("/docs").status_code == 200
    ready = gw.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {
        "event_ingest",
        "feature_serving",
        "candidate_gen",
        "ranking",
        "fallback",
    }


def test_readyz_reports_an_unreachable_downstream(make_gateway):
    gw = make_gateway(ranking_url=closed_port_url())
    ready = gw.get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["ranking"].startswith("error") and checks["candidate_gen"] == "ok"


def test_admin_key_works_for_client_endpoints(gw):
    assert_recs(gw.get("/v1/recommendations/home?k=2", headers=ADMIN), "home", 2)


# --------------------------------------------------------------------------- events, erasure

EVENT = {"event_id": "e1", "user_id": "known_9", "event_type": "view", "product_id": P1}


def test_events_pass_through(gw, fakes):
    resp = gw.post("/v1/events", json={"events": [EVENT]}, headers=KEY)
    assert resp.status_code == 200 and resp.json()["event_ids"] == ["e1"]
    assert orjson.loads(fakes.calls["ingest"][-1]) == {"events": [EVENT]}  # raw body forwarded
    resp = gw.post("/v1/events", json={**EVENT, "event_id": "e2"}, headers=KEY)  # single event
    assert resp.status_code == 200 and resp.json()["accepted"] == 1


def test_events_ingest_rejection_is_passed_through(gw, fakes):
    bad = {"events": [{**EVENT, "product_id": "nope"}]}
    err = assert_error(gw.post("/v1/events", json=bad, headers=KEY), 422, "validation_error")
    assert err["field"] == "events.0.product_id"  # the fake ingest's own field, unchanged
    assert len(fakes.calls["ingest"]) == 1


@pytest.mark.parametrize("body", [b"{nope", b"", b'{"events": [}'])
def test_events_malformed_json_is_400(gw, fakes, body):
    assert_error(gw.post("/v1/events", content=body, headers=KEY), 400, "invalid_json")
    assert fakes.calls["ingest"] == []


@pytest.mark.parametrize("mode", ["500", "timeout"])
def test_events_ingest_down_is_503(make_gateway, fakes, mode):
    gw = make_gateway(ingest_timeout_seconds=0.3)
    fakes.mode["ingest"] = mode
    assert_error(gw.post("/v1/events", json=EVENT, headers=KEY), 503, "unavailable")


def test_events_ingest_unreachable_is_503(make_gateway):
    gw = make_gateway(event_ingest_url=closed_port_url())
    assert_error(gw.post("/v1/events", json=EVENT, headers=KEY), 503, "unavailable")


def test_events_body_too_large_is_413(make_gateway, fakes):
    gw = make_gateway(max_event_body_bytes=100)
    big = {"events": [{**EVENT, "event_id": f"e{i}"} for i in range(10)]}
    assert_error(gw.post("/v1/events", json=big, headers=KEY), 413, "payload_too_large")
    assert fakes.calls["ingest"] == []


def test_erasure(gw, fakes, rds):
    url = "/v1/recommendations/home?user_id=known_5&k=2"
    assert_recs(gw.get(url, headers=KEY), "home", 2)
    cache_key = gw.app.state.settings.keys.response_cache("known_5")
    assert rds.exists(cache_key)
    assert_error(gw.delete("/v1/users/known_5", headers=KEY), 403, "forbidden", "X-API-Key")
    assert rds.exists(cache_key)
    resp = gw.delete("/v1/users/known_5", headers=ADMIN)
    assert resp.status_code == 200
    assert resp.json() == {"user_id": "known_5", "events_deleted": 3, "keys_deleted": 2}
    assert fakes.calls["ingest"][-1] == ("delete", "known_5")
    assert not rds.exists(cache_key)
    assert_error(gw.delete("/v1/users/bad%20id", headers=ADMIN), 422, "validation_error", "user_id")
    fakes.mode["ingest"] = "500"
    assert_error(gw.delete("/v1/users/known_5", headers=ADMIN), 503, "unavailable")


# --------------------------------------------------------------------------- response cache


def test_cache_hit_and_invalidation_on_events(gw, fakes):
    url = "/v1/recommendations/home?user_id=known_7&k=3"
    first = assert_recs(gw.get(url, headers=KEY), "home", 3)
    assert len(fakes.calls["candidates"]) == 1
    second = assert_recs(gw.get(url, headers=KEY), "home", 3)
    assert len(fakes.calls["candidates"]) == 1  # served from the cache
    assert second["items"] == first["items"]
    assert second["request_id"] != first["request_id"]  # a fresh id for attribution
    # Another shape of request is a different cache entry.
    assert_recs(gw.get(url.replace("k=3", "k=4"), headers=KEY), "home", 4)
    assert len(fakes.calls["candidates"]) == 2
    # An event of the user invalidates; another user's event does not.
    other = {**EVENT, "user_id": "someone_else", "event_id": "e-other"}
    assert gw.post("/v1/events", json=other, headers=KEY).status_code == 200
    assert_recs(gw.get(url, headers=KEY), "home", 3)
    assert len(fakes.calls["candidates"]) == 2
    mine = {"events": [{**EVENT, "user_id": "known_7", "event_id": "e-mine"}]}
    assert gw.post("/v1/events", json=mine, headers=KEY).status_code == 200
    assert_recs(gw.get(url, headers=KEY), "home", 3)
    assert len(fakes.calls["candidates"]) == 3


def test_fallback_and_anonymous_responses_are_not_cached(gw, fakes):
    fakes.mode["rank"] = "500"
    url = "/v1/recommendations/home?user_id=known_8&k=3"
    assert_recs(gw.get(url, headers=KEY), "home", 3, "ranking_unavailable")
    fakes.mode["rank"] = "ok"
    assert_recs(gw.get(url, headers=KEY), "home", 3)  # recomputed, now healthy
    assert len(fakes.calls["candidates"]) == 2
    assert_recs(gw.get("/v1/recommendations/home?k=3", headers=KEY), "home", 3)
    assert_recs(gw.get("/v1/recommendations/home?k=3", headers=KEY), "home", 3)
    assert len(fakes.calls["candidates"]) == 4  # anonymous: never cached


def test_cache_disabled_with_ttl_zero(make_gateway, fakes):
    gw = make_gateway(cache_ttl_seconds=0)
    url = "/v1/recommendations/home?user_id=known_1&k=3"
    assert_recs(gw.get(url, headers=KEY), "home", 3)
    assert_recs(gw.get(url, headers=KEY), "home", 3)
    assert len(fakes.calls["candidates"]) == 2


def test_served_metric(gw):
    assert_recs(gw.get("/v1/recommendations/home?k=1", headers=KEY), "home", 1)
    metrics = gw.get("/metrics").text
    assert 'recsys_recommendations_served_total{surface="home",variant="control"}' in metrics
    assert "known_" not in metrics  # never a user id in a label
