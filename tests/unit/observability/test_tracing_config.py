"""Tracing configuration: off (a no-op: nothing installed) unless an OTLP endpoint or
TRACING_ENABLED says otherwise; the provider built from the standard OTEL_* variables."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.common import app as common_app
from services.common import tracing
from services.common.app import api_router, create_app
from services.common.http import ServiceClient
from services.common.settings import ServiceSettings

OTEL_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SDK_DISABLED",
    "TRACING_ENABLED",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)


def settings(**kw) -> ServiceSettings:
    return ServiceSettings(service_name="svc-under-test", **kw)


def test_off_without_endpoint_on_with_one(monkeypatch):
    assert tracing.tracing_enabled(settings()) is False
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.tracing_enabled(settings()) is True
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")
    assert tracing.tracing_enabled(settings()) is True


def test_tracing_enabled_switch_wins(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("TRACING_ENABLED", "false")
    assert tracing.tracing_enabled(ServiceSettings()) is False
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    monkeypatch.setenv("TRACING_ENABLED", "true")
    assert tracing.tracing_enabled(ServiceSettings()) is True
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")  # the SDK's own kill switch
    assert tracing.tracing_enabled(ServiceSettings()) is False


def test_noop_installs_nothing():
    before = trace.get_tracer_provider()
    assert tracing.configure_tracing(settings()) is None
    assert trace.get_tracer_provider() is before
    app = create_app(settings(), title="t", routers=[])
    assert app.state.tracer_provider is None
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    with TestClient(app) as client:  # builds the middleware stack
        assert client.get("/healthz").status_code == 200
    layer, names = app.middleware_stack, []
    while layer is not None:
        names.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    assert "OpenTelemetryMiddleware" not in names
    assert "ObservabilityMiddleware" in names
    assert tracing.client_trace_configs(None) == []
    assert ServiceClient("x", "http://127.0.0.1:1").tracer_provider is None


async def test_noop_client_session_has_no_trace_hooks():
    client = ServiceClient("x", "http://127.0.0.1:1")
    try:
        assert client._client().trace_configs == []
    finally:
        await client.aclose()


async def test_traced_client_session_has_the_otel_hook():
    provider = TracerProvider()
    client = ServiceClient("x", "http://127.0.0.1:1", tracer_provider=provider)
    try:
        assert len(client._client().trace_configs) == 1
    finally:
        await client.aclose()
        provider.shutdown()


def _exporter_of(provider: TracerProvider):
    (processor,) = provider._active_span_processor._span_processors
    return processor._batch_processor._exporter


def test_provider_from_standard_variables(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://jaeger:4318/v1/traces")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    provider = tracing.build_tracer_provider("gateway")
    try:
        assert provider.resource.attributes["service.name"] == "gateway"
        exporter = _exporter_of(provider)
        assert isinstance(exporter, OTLPSpanExporter)
        assert exporter._endpoint == "http://jaeger:4318/v1/traces"
        assert "0.25" in provider.sampler.get_description()
    finally:
        provider.shutdown()


def test_service_name_and_exporter_overrides(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-canary")
    provider = tracing.build_tracer_provider("gateway")
    try:
        assert provider.resource.attributes["service.name"] == "gateway-canary"
        assert _exporter_of(provider)._endpoint == "http://collector:4318/v1/traces"
    finally:
        provider.shutdown()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    provider = tracing.build_tracer_provider("gateway")
    try:
        assert provider._active_span_processor._span_processors == ()
    finally:
        provider.shutdown()


def test_enabled_app_traces_routes_but_not_probes(monkeypatch):
    """With a provider, routes get server spans (with the request id); probes do not."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(common_app, "configure_tracing", lambda s: provider)
    router = api_router()

    @router.get("/v1/ping")
    async def ping() -> dict:
        return {"ok": True}

    app: FastAPI = create_app(settings(), title="t", routers=[router])
    assert app.state.tracer_provider is provider
    with TestClient(app) as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200
        response = client.get("/v1/ping", headers={"x-request-id": "req-42"})
    assert response.status_code == 200
    spans = memory.get_finished_spans()
    assert [(s.name, s.kind) for s in spans] == [("GET /v1/ping", SpanKind.SERVER)]
    assert spans[0].attributes["recsys.request_id"] == "req-42"
    provider.shutdown()
