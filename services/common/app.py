"""The one app factory: health, readiness, metrics, traces, JSON access logs, request ids,
uniform errors and graceful shutdown, the same in every service."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import OrjsonResponse, install_error_handlers
from services.common.logs import configure_logging, request_id_var
from services.common.settings import ServiceSettings
from services.common.tracing import UNTRACED_PATHS, configure_tracing, instrument_app

log = logging.getLogger("recsys.access")

REQUEST_ID_HEADER = "x-request-id"
# Buckets cluster around the 150 ms latency SLO (DESIGN section 10).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5)

HTTP_REQUESTS = Counter(
    "recsys_http_requests", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "recsys_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
_UNTRACKED = UNTRACED_PATHS

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
ReadinessCheck = Callable[[FastAPI], Awaitable[dict[str, str]]]


class _OrjsonRequest(Request):
    async def json(self):
        if not hasattr(self, "_json"):
            # orjson.JSONDecodeError subclasses json.JSONDecodeError, so FastAPI's
            # malformed-body handling (400 invalid_json) is unchanged.
            self._json = orjson.loads(await self.body())
        return self._json


class FastJSONRoute(APIRoute):
    """Parses request bodies with orjson instead of the stdlib: the internal hot paths
    carry hundreds of candidates per call."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def fast_handler(request: Request):
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return fast_handler


def api_router(**kwargs) -> APIRouter:
    """The APIRouter every service uses for its routes."""
    return APIRouter(route_class=FastJSONRoute, **kwargs)


class ObservabilityMiddleware:
    """Request id, access log and RED metrics. Plain ASGI: no per-request task overhead.
    With tracing on it runs inside the server span, so the access log line carries the
    trace id and the span carries the request id."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, REQUEST_ID_HEADER) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("recsys.request_id", request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            if path not in _UNTRACKED:
                route = getattr(scope.get("route"), "path", "unmatched")
                HTTP_REQUESTS.labels(self.service, scope["method"], route, status).inc()
                HTTP_LATENCY.labels(self.service, scope["method"], route).observe(elapsed)
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)


def _header(scope: Scope, name: str) -> str | None:
    key = name.encode()
    for k, v in scope.get("headers", ()):
        if k == key:
            value = v.decode("latin-1")
            return value if 0 < len(value) <= 128 else None
    return None


def create_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: list[APIRouter],
    lifespan: Lifespan | None = None,
    readiness: ReadinessCheck | None = None,
    readiness_details: Callable[[FastAPI], dict] | None = None,
) -> FastAPI:
    """Build a service. `lifespan` opens and closes its resources (pools, models);
    `readiness` returns {check: "ok" | reason} for its real dependencies;
    `readiness_details` adds facts to the body (e.g. the loaded model versions)."""
    configure_logging(settings.service_name, settings.log_level)
    tracer_provider = configure_tracing(settings)  # None: tracing off, nothing installed

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.shutting_down = False
        if lifespan is None:
            yield
        else:
            async with lifespan(app):
                yield
        # uvicorn has stopped accepting and drained in-flight requests by now.
        app.state.shutting_down = True
        if tracer_provider is not None:  # export what is buffered; bounded wait
            await asyncio.to_thread(tracer_provider.force_flush, 2000)
        logging.getLogger("recsys").info("shutdown complete")

    # FastAPI's own (native) OpenTelemetry support is off: the contrib instrumentation
    # below is the one source of server spans, so a configured provider never yields two.
    app = FastAPI(
        title=title,
        lifespan=_lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    # Before the lifespan: service lifespans hand it to their ServiceClients.
    app.state.tracer_provider = tracer_provider
    install_error_handlers(app)
    app.add_middleware(ObservabilityMiddleware, service=settings.service_name)
    if tracer_provider is not None:
        instrument_app(app, tracer_provider)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz():
        if getattr(app.state, "shutting_down", False):
            return OrjsonResponse({"status": "shutting_down", "checks": {}}, status_code=503)
        checks: dict[str, str] = {}
        if readiness is not None:
            try:
                checks = await asyncio.wait_for(readiness(app), timeout=2.0)
            except Exception as exc:  # a readiness probe must answer, never raise
                checks = {"readiness": f"error: {type(exc).__name__}: {exc}"}
        ready = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ready else "not_ready", "checks": checks}
        if readiness_details is not None:
            body["details"] = readiness_details(app)
        return OrjsonResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    return app


def run(app_path: str, settings: ServiceSettings) -> None:
    """Start a service under uvicorn with graceful shutdown on SIGTERM."""
    import uvicorn

    uvicorn.run(
        app_path,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
