"""One trace across the services: the five real apps in this process (uvicorn in
background threads on free ports, real Postgres and Redis), one home request through the
gateway, spans collected by OpenTelemetry's InMemorySpanExporter (all apps share the
process's tracer provider, as they would share a collector)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from deploy.local.stack import ROOT
from services.candidate_gen.app import build_app as build_candidates
from services.candidate_gen.config import Settings as CandidateSettings
from services.common.logs import JsonFormatter
from services.event_ingest.app import build_app as build_ingest
from services.event_ingest.config import Settings as IngestSettings
from services.feature_serving.app import build_app as build_features
from services.feature_serving.config import Settings as FeatureSettings
from services.gateway.app import build_app as build_gateway
from services.gateway.config import Settings as GatewaySettings
from services.ranking.app import build_app as build_ranking
from services.ranking.config import Settings as RankingSettings

KEY = {"X-API-Key": "dev-key"}
# The same small data set as tests/integration/test_ml_load_demo.py: whichever runs first
# loads it, the other reuses it.
DEMO = ["load-demo", "--products", "300", "--users", "200", "--days", "3", "--seed", "5"]
# Leaves first, so that each app's lifespan finds its downstreams up.
BUILDERS = {
    "feature-serving": (build_features, FeatureSettings),
    "ranking": (build_ranking, RankingSettings),
    "candidate-gen": (build_candidates, CandidateSettings),
    "event-ingest": (build_ingest, IngestSettings),
    "gateway": (build_gateway, GatewaySettings),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_demo(pg_url: str, redis_url: str, redis_prefix: str) -> None:
    """As a process (like tests/e2e): the batch stack (pandas, ...) stays out of this one."""
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
    }
    done = subprocess.run(
        [sys.executable, "-m", "ml.cli", *DEMO], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@contextmanager
def in_process_stack(
    pg_url: str,
    redis_url: str,
    redis_prefix: str,
    *,
    tracing: bool,
    overrides: dict[str, dict] | None = None,
) -> Iterator[dict[str, str]]:
    """The five apps on free ports in this process; yields {service: base url}.
    `overrides`: extra settings per service name."""
    ports = {name: free_port() for name in BUILDERS}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    common = {
        "database_url": pg_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "tracing_enabled": tracing,
        "feature_serving_url": urls["feature-serving"],
        "candidate_gen_url": urls["candidate-gen"],
        "ranking_url": urls["ranking"],
        "event_ingest_url": urls["event-ingest"],
    }
    # Threads share one GIL: generous downstream timeouts keep the path undegraded.
    # The in-process stacks test tracing and metrics, not the feature store: interim
    # Redis reads, no Feast push (tests/integration/test_feature_serving_feast.py has those).
    extras: dict[str, dict] = {
        "feature-serving": {"feature_backend": "redis"},
        "event-ingest": {"feast_push_enabled": False},
        "gateway": {
            "features_timeout_seconds": 5.0,
            "candidates_timeout_seconds": 5.0,
            "ranking_timeout_seconds": 5.0,
        },
    }
    for name, values in (overrides or {}).items():
        extras[name] = {**extras.get(name, {}), **values}
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []
    try:
        for name, (build, settings_cls) in BUILDERS.items():
            app = build(settings_cls(**{**common, **extras.get(name, {})}))
            server = uvicorn.Server(
                uvicorn.Config(
                    app, host="127.0.0.1", port=ports[name], log_config=None, lifespan="on"
                )
            )
            thread = threading.Thread(target=server.run, daemon=True, name=f"uvicorn-{name}")
            thread.start()
            servers.append((server, thread))
            deadline = time.monotonic() + 60
            while not server.started:
                assert thread.is_alive(), f"{name} did not start"
                assert time.monotonic() < deadline, f"{name} did not start in time"
                time.sleep(0.05)
        yield urls
    finally:
        for server, _ in reversed(servers):
            server.should_exit = True
        for _, thread in servers:
            thread.join(15)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """An in-memory exporter on the process's SDK provider (installed here unless an
    earlier test already installed one: a global provider can be set only once)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, SDKTracerProvider):
        provider = SDKTracerProvider(resource=Resource.create({"service.name": "recsys-tests"}))
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    assert isinstance(provider, SDKTracerProvider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    memory.clear()
    memory.shutdown()  # later spans (if any) are dropped, not kept in memory


@pytest.fixture(scope="module")
def stack(exporter, pg_url, redis_url, redis_prefix):
    load_demo(pg_url, redis_url, redis_prefix)
    # No item-feature cache in ranking: every ranking calls feature-serving.
    no_cache = {"ranking": {"item_feature_cache_seconds": 0}}
    with in_process_stack(
        pg_url, redis_url, redis_prefix, tracing=True, overrides=no_cache
    ) as urls:
        yield urls


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    """The JSON access-log lines written while the test runs (formatted as in production)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("recsys.access")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def wait_for_spans(exporter: InMemorySpanExporter, done, timeout: float = 10.0):
    """Server spans end just after the response is sent: poll until `done(spans)`."""
    deadline = time.monotonic() + timeout
    while True:
        spans = exporter.get_finished_spans()
        if done(spans) or time.monotonic() > deadline:
            return list(spans)
        time.sleep(0.05)


def server_span(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.kind == SpanKind.SERVER and s.name == name]
    assert len(found) == 1, (name, sorted(s.name for s in spans))
    return found[0]


def parent_of(spans: list[ReadableSpan], span: ReadableSpan) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    by_id = {s.context.span_id: s for s in spans}
    assert span.parent.span_id in by_id, f"parent of {span.name} not exported"
    return by_id[span.parent.span_id]


# --------------------------------------------------------------------------- tests


def test_one_trace_spans_gateway_and_every_downstream(stack, exporter, access_lines):
    gateway = stack["gateway"]
    with httpx.Client(base_url=gateway, headers=KEY, timeout=30) as client:
        warm = client.get("/v1/recommendations/home", params={"user_id": "u000007", "k": 5})
        assert warm.status_code == 200, warm.text
        time.sleep(0.3)  # the warm-up's last log lines and spans come after its response
        exporter.clear()
        access_lines.clear()
        user = f"trace-{uuid.uuid4().hex[:8]}"  # never cached: the full path runs
        response = client.get("/v1/recommendations/home", params={"user_id": user, "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fallback_reason"] is None and len(body["items"]) == 5

    names = {
        "GET /v1/recommendations/home",
        "POST /v1/features/users",
        "POST /v1/candidates",
        "POST /v1/rank",
        "POST /v1/features/items",
    }
    spans = wait_for_spans(
        exporter, lambda ss: names <= {s.name for s in ss if s.kind == SpanKind.SERVER}
    )
    root = server_span(spans, "GET /v1/recommendations/home")
    features = server_span(spans, "POST /v1/features/users")
    candidates = server_span(spans, "POST /v1/candidates")
    ranking = server_span(spans, "POST /v1/rank")
    items = server_span(spans, "POST /v1/features/items")

    # One trace: every server span carries the gateway's trace id.
    trace_id = root.context.trace_id
    assert {s.context.trace_id for s in (features, candidates, ranking, items)} == {trace_id}
    assert root.parent is None  # the client sent no traceparent: the gateway starts it

    # Parent/child through the aiohttp client spans: gateway -> features, candidates,
    # ranking; ranking -> features (item features).
    for downstream, caller in ((features, root), (candidates, root), (ranking, root)):
        client_span = parent_of(spans, downstream)
        assert client_span.kind == SpanKind.CLIENT
        assert parent_of(spans, client_span) is caller
    items_client = parent_of(spans, items)
    assert items_client.kind == SpanKind.CLIENT
    assert parent_of(spans, items_client) is ranking

    # The gateway span carries the request id; its access log line the trace ids.
    assert root.attributes["recsys.request_id"] == body["request_id"]
    hex_trace = format(trace_id, "032x")
    gateway_line = [line for line in access_lines if '"/v1/recommendations/home"' in line]
    assert len(gateway_line) == 1, access_lines
    assert f'"trace_id":"{hex_trace}"' in gateway_line[0]
    assert f'"span_id":"{format(root.context.span_id, "016x")}"' in gateway_line[0]
    assert all(f'"trace_id":"{hex_trace}"' in line for line in access_lines)
    assert len(access_lines) == 5  # gateway, features x2, candidates, ranking


def test_probes_and_scrapes_are_not_traced(stack, exporter):
    exporter.clear()
    with httpx.Client(timeout=10) as client:
        # The gateway's readiness calls every downstream's /healthz (client spans would
        # start traces of their own: suppressed as well).
        assert client.get(stack["gateway"] + "/readyz").status_code == 200
        for url in stack.values():
            assert client.get(url + "/healthz").status_code == 200
            assert client.get(url + "/metrics").status_code == 200
        # A traced request afterwards shows the exporter is live.
        assert client.get(stack["candidate-gen"] + "/v1/indexes").status_code == 200
    spans = wait_for_spans(exporter, lambda ss: any(s.kind == SpanKind.SERVER for s in ss))
    assert [s.name for s in spans if s.kind == SpanKind.SERVER] == ["GET /v1/indexes"]
    traced = [s.name for s in spans]
    assert not [n for n in traced if any(p in n for p in ("healthz", "readyz", "metrics"))]
    assert not [s for s in spans if s.kind == SpanKind.CLIENT], traced
