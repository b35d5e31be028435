"""OpenTelemetry tracing for every service, set up by the app factory (DESIGN section 10).

Configured by the standard OTEL_* variables only:
- `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`: OTLP/HTTP collector
  (e.g. Jaeger's :4318); headers, timeout, compression from the matching OTEL_* variables;
- `OTEL_SERVICE_NAME` (default: the service's own name), `OTEL_RESOURCE_ATTRIBUTES`;
- `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default parentbased_always_on), the
  `OTEL_BSP_*` batch settings, `OTEL_TRACES_EXPORTER=none`, `OTEL_SDK_DISABLED=true`.
Plus one switch of ours, `TRACING_ENABLED` (settings.tracing_enabled): unset means "on when
an endpoint is set". Off, nothing is installed at all: no middleware, no aiohttp trace
hooks, no span objects; the only cost left is the log formatter's context lookup.

One process is one service, so the provider is the process-global one. When a global SDK
provider already exists (several apps in one test process, or `opentelemetry-instrument`)
it is reused rather than replaced.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from fastapi import FastAPI
from opentelemetry import trace

from services.common.settings import ServiceSettings

log = logging.getLogger(__name__)

# Probes and scrapes are not traced: they are frequent and say nothing about a request.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_EXCLUDED_URLS = r"/(healthz|readyz|metrics)(\?.*)?$"


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def endpoint_configured(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


def tracing_enabled(settings: ServiceSettings, environ: Mapping[str, str] | None = None) -> bool:
    """TRACING_ENABLED wins when set; otherwise on exactly when an OTLP endpoint is set.
    OTEL_SDK_DISABLED=true (the SDK's own kill switch) turns it off either way."""
    env = os.environ if environ is None else environ
    if _true(env.get("OTEL_SDK_DISABLED")):
        return False
    if settings.tracing_enabled is not None:
        return settings.tracing_enabled
    return endpoint_configured(env)


def build_tracer_provider(service_name: str, environ: Mapping[str, str] | None = None):
    """A new SDK provider (not installed globally): resource from OTEL_SERVICE_NAME /
    OTEL_RESOURCE_ATTRIBUTES with `service_name` as the default name, sampler from
    OTEL_TRACES_SAMPLER, and a batching OTLP/HTTP exporter unless OTEL_TRACES_EXPORTER=none.
    The exporter reads its endpoint, headers and timeout from the OTEL_* variables."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    env = os.environ if environ is None else environ
    named = env.get("OTEL_SERVICE_NAME", "").strip() or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {"service.name": service_name})
    provider = TracerProvider(resource=resource)
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    if "otlp" in exporters:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporters - {"none", ""}:
        log.warning(
            "unsupported OTEL_TRACES_EXPORTER; spans are not exported",
            extra={"exporters": sorted(exporters)},
        )
    return provider


def configure_tracing(settings: ServiceSettings):
    """The process's tracer provider when tracing is on, else None (and nothing is set up)."""
    if not tracing_enabled(settings):
        return None
    from opentelemetry.sdk.trace import TracerProvider

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = build_tracer_provider(settings.service_name)
    trace.set_tracer_provider(provider)
    installed = trace.get_tracer_provider()
    if installed is not provider:  # someone else won the race to set it: use theirs
        provider.shutdown()
        return installed if isinstance(installed, TracerProvider) else None
    log.info("tracing enabled", extra={"service": settings.service_name})
    return provider


def instrument_app(app: FastAPI, provider) -> None:
    """Server spans for every route except the probes, with W3C trace context extracted
    from the request; no per-message `http send/receive` child spans (cost, no value)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    extra = os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS") or os.environ.get(
        "OTEL_PYTHON_EXCLUDED_URLS"
    )
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=",".join(filter(None, (_EXCLUDED_URLS, extra))),
        exclude_spans=["receive", "send"],
    )


def client_trace_configs(provider) -> list:
    """aiohttp TraceConfigs for a ServiceClient: a client span per call and the
    traceparent header injected, so downstream server spans join the caller's trace."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    return [create_trace_config(tracer_provider=provider)]


def suppressed():
    """Context manager: calls made inside it create no client span (health probes)."""
    from opentelemetry.instrumentation.utils import suppress_http_instrumentation

    return suppress_http_instrumentation()


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the active span, or None."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
