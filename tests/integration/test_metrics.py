"""docs/metrics.md in practice: drive the in-process stack (real Postgres and Redis), then
scrape /metrics and find the recommendation, candidate, model, event and feature metrics
with their labels. The prometheus registry is per process and other tests in this
process count as well, so the checks compare a scrape before with one after."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.app import build_app as build_gateway
from services.gateway.config import Settings as GatewaySettings
from tests.integration.test_tracing import free_port, in_process_stack, load_demo

KEY = {"X-API-Key": "dev-key"}
RUN = uuid.uuid4().hex[:8]
USER = f"metrics-{RUN}"


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, frozenset(labels)): value} of the recsys_ samples."""
    text = httpx.get(url + "/metrics", timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("recsys_"):
                out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def label_sets(samples: dict, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (n, labels) in samples if n == name]


@pytest.fixture(scope="module")
def stack(pg_url, redis_url, redis_prefix):
    load_demo(pg_url, redis_url, redis_prefix)
    overrides = {"event-ingest": {"known_variants": "control,challenger"}}
    with in_process_stack(
        pg_url, redis_url, redis_prefix, tracing=False, overrides=overrides
    ) as urls:
        yield urls


@pytest.fixture(scope="module")
def traffic(stack, pg_url, redis_url, redis_prefix):
    """Recommendations, events (accepted and rejected) and one degraded gateway; returns
    (scrape before, scrape after, served product ids)."""
    before = scrape(stack["gateway"])
    served: set[str] = set()
    with httpx.Client(base_url=stack["gateway"], headers=KEY, timeout=30) as client:
        home = {"user_id": USER, "k": 6}
        for _ in range(2):  # a miss, then a hit from the response cache
            r = client.get("/v1/recommendations/home", params=home)
            assert r.status_code == 200 and r.json()["fallback_reason"] is None, r.text
            served |= {i["product_id"] for i in r.json()["items"]}
        anchor = r.json()["items"][0]["product_id"]
        r = client.get(f"/v1/recommendations/product/{anchor}", params={"k": 4})
        assert r.status_code == 200, r.text
        served |= {i["product_id"] for i in r.json()["items"]}
        r = client.get("/v1/recommendations/search", params={"q": "wireless", "k": 3})
        assert r.status_code == 200, r.text

        ts = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        events = [
            {"event_id": f"m-{RUN}-1", "user_id": USER, "event_type": "view",
             "product_id": anchor, "ts": ts},
            {"event_id": f"m-{RUN}-2", "user_id": USER,
             "event_type": "recommendation_impression", "product_id": anchor,
             "variant": "control", "request_id": "req-1"},
            {"event_id": f"m-{RUN}-3", "user_id": USER, "event_type": "recommendation_click",
             "product_id": anchor, "variant": "challenger"},
            {"event_id": f"m-{RUN}-4", "user_id": USER, "event_type": "recommendation_click",
             "product_id": anchor, "variant": f"free-text-{RUN}"},
        ]  # fmt: skip
        r = client.post("/v1/events", json={"events": events})
        assert r.status_code == 200 and r.json()["accepted"] == 4, r.text
        r = client.post("/v1/events", json={"events": events[:1]})  # a retry: duplicate
        assert r.status_code == 200 and r.json()["duplicates"] == 1, r.text
        # The gateway refuses malformed JSON itself; event-ingest counts its own refusals.
        bad = httpx.post(
            stack["event-ingest"] + "/v1/events",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert bad.status_code == 400
        unknown = {"user_id": USER, "event_type": "view", "product_id": "ZZ" + RUN.upper()}
        r = client.post("/v1/events", json=unknown)
        assert r.status_code == 422 and "unknown product" in r.text, r.text
        invalid = {"user_id": USER, "event_type": "view"}  # a view needs a product
        assert client.post("/v1/events", json=invalid).status_code == 422

    # Degraded mode: a gateway whose candidate-gen is unreachable answers from fallbacks.
    closed = f"http://127.0.0.1:{free_port()}"
    degraded = GatewaySettings(
        database_url=pg_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        feature_serving_url=stack["feature-serving"],
        candidate_gen_url=closed,
        ranking_url=stack["ranking"],
        event_ingest_url=stack["event-ingest"],
        features_timeout_seconds=5.0,
    )
    with TestClient(build_gateway(degraded)) as client:
        r = client.get("/v1/recommendations/home", params={"k": 3}, headers=KEY)
        assert r.status_code == 200 and r.json()["fallback_reason"] == "candidate_gen_unavailable"
    time.sleep(0.2)  # histograms of the last downstream calls are observed after responding
    return before, scrape(stack["gateway"]), served


def test_recommendation_metrics(traffic):
    before, after, served = traffic
    served_total = "recsys_recommendations_served_total"
    assert delta(before, after, served_total, surface="home", variant="control") == 3
    assert delta(before, after, served_total, surface="product", variant="control") == 1
    assert delta(before, after, served_total, surface="search", variant="control") == 1
    # 6 + 6 (cached) + 3 (fallback) home items, 4 product items.
    assert delta(before, after, "recsys_recommended_items_total", surface="home") == 15
    assert delta(before, after, "recsys_recommended_items_total", surface="product") == 4
    assert value(after, "recsys_recommended_distinct_items") >= len(served)
    assert (
        delta(
            before,
            after,
            "recsys_fallbacks_total",
            surface="home",
            reason="candidate_gen_unavailable",
        )
        == 1
    )
    lookups = "recsys_gateway_cache_lookups_total"
    assert delta(before, after, lookups, result="hit") >= 1
    assert delta(before, after, lookups, result="miss") >= 1


def test_candidate_and_model_metrics(traffic):
    before, after, _ = traffic
    sources = {d["source"] for d in label_sets(after, "recsys_candidates_total")}
    assert (
        sources
        and sum(delta(before, after, "recsys_candidates_total", source=s) for s in sources) > 0
    )
    assert value(after, "recsys_catalog_items") >= 300
    info = label_sets(after, "recsys_model_info")
    assert {d["model"] for d in info} == {"content", "association"}
    assert {d["alias"] for d in info} == {"champion"}
    assert all(value(after, "recsys_model_info", **d) == 1 for d in info)
    content = next(d["version"] for d in info if d["model"] == "content")
    assert content.startswith("tfidf-")
    loaded = value(after, "recsys_model_loaded_timestamp_seconds", model="content")
    assert time.time() - 3600 < loaded <= time.time()


def test_event_metrics(traffic):
    before, after, _ = traffic
    ingested = "recsys_events_ingested_total"
    assert delta(before, after, ingested, event_type="view") == 1
    assert delta(before, after, ingested, event_type="recommendation_click") == 2
    assert delta(before, after, "recsys_events_duplicate_total") == 1
    interactions = "recsys_recommendation_interactions_total"
    assert delta(before, after, interactions, event_type="impression", variant="control") == 1
    assert delta(before, after, interactions, event_type="click", variant="challenger") == 1
    assert delta(before, after, interactions, event_type="click", variant="other") == 1
    rejected = "recsys_events_rejected_total"
    assert delta(before, after, rejected, reason="invalid_json") == 1
    assert delta(before, after, rejected, reason="product_not_found") == 1
    assert delta(before, after, rejected, reason="validation_error") == 1
    # Only the event with a client ts has a lag (~10 minutes).
    assert delta(before, after, "recsys_event_lag_seconds_count") == 1
    lag = delta(before, after, "recsys_event_lag_seconds_sum")
    assert 590 < lag < 900


def test_feature_and_http_metrics(traffic):
    before, after, _ = traffic
    read = "recsys_feature_read_duration_seconds_count"
    assert delta(before, after, read, kind="users") >= 1  # the second home was cached
    assert delta(before, after, read, kind="items") >= 1
    requests = "recsys_http_requests_total"
    labels = dict(service="gateway", method="GET", route="/v1/recommendations/home")
    assert delta(before, after, requests, **labels, status="200") == 3


def test_no_user_or_free_text_in_labels(traffic):
    _, after, _ = traffic
    values = {v for (_, labels) in after for _, v in labels}
    names = {k for (_, labels) in after for k, _ in labels}
    assert "user_id" not in names
    assert not [v for v in values if USER in v or RUN in v]
