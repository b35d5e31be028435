"""JSON log lines carry trace_id / span_id (hex) inside a span, and nothing without."""

from __future__ import annotations

import logging

import orjson
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from services.common.logs import JsonFormatter, request_id_var


def line(message: str = "hello") -> dict:
    record = logging.LogRecord("recsys.test", logging.INFO, __file__, 1, message, None, None)
    return orjson.loads(JsonFormatter("svc").format(record))


def test_no_span_no_trace_fields():
    doc = line()
    assert "trace_id" not in doc and "span_id" not in doc
    assert doc["service"] == "svc" and doc["message"] == "hello"


def test_active_span_ids_in_hex():
    provider = TracerProvider()  # not installed globally: only the context matters
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        ctx = span.get_span_context()
        doc = line()
    assert doc["trace_id"] == format(ctx.trace_id, "032x") and len(doc["trace_id"]) == 32
    assert doc["span_id"] == format(ctx.span_id, "016x") and len(doc["span_id"]) == 16
    assert "trace_id" not in line()  # gone once the span ended
    provider.shutdown()


def test_propagated_context_and_request_id_together():
    """A remote parent (unsampled, non-recording) still correlates logs with the trace."""
    ctx = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(0),
    )
    token = request_id_var.set("req-7")
    try:
        with trace.use_span(NonRecordingSpan(ctx)):
            doc = line()
    finally:
        request_id_var.reset(token)
    assert doc["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert doc["span_id"] == "00f067aa0ba902b7"
    assert doc["request_id"] == "req-7"
