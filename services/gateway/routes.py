"""The public API (DESIGN section 5). Thin: parse and validate, call the orchestrator or
event-ingest, return contracts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request, Security
from fastapi.security import APIKeyHeader
from starlette.responses import Response

from services.common import contracts
from services.common.app import api_router
from services.common.contracts import (
    MAX_K,
    PRODUCT_ID_PATTERN,
    USER_ID_PATTERN,
    CartRequest,
    ErasureResult,
    ErrorBody,
    IngestResult,
    RecommendationResponse,
    Surface,
)
from services.common.errors import ApiError, OrjsonResponse
from services.common.http import DownstreamError, DownstreamRejected
from services.gateway.auth import API_KEY_HEADER, Role, authenticate, require_admin
from services.gateway.orchestrator import Orchestrator, RecRequest, Rejected, uniform_body
from services.gateway.params import batch_user_ids, cart_from_query, parse_json, validate

_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


async def client_role(request: Request, key: str | None = Security(_api_key)) -> Role:
    settings = request.app.state.settings
    return authenticate(key, settings.client_keys, settings.admin_key)


async def admin_role(role: Role = Depends(client_role)) -> Role:
    require_admin(role)
    return role


_ERRORS = {s: {"model": ErrorBody} for s in (400, 401, 403, 404, 413, 422, 503)}
router = api_router(prefix="/v1", dependencies=[Depends(client_role)], responses=_ERRORS)
admin_router = api_router(prefix="/v1", dependencies=[Depends(admin_role)], responses=_ERRORS)

UserIdQ = Annotated[
    str | None, Query(pattern=USER_ID_PATTERN, description="Omit for anonymous (cold start).")
]
KQ = Annotated[int, Query(ge=1, le=MAX_K)]
ProductIdP = Annotated[str, Path(pattern=PRODUCT_ID_PATTERN)]
SearchQ = Annotated[contracts.Query, Query(description="Trimmed; 1..200 characters.")]


def _orchestrator(request: Request) -> Orchestrator:
    return request.app.state.orchestrator


async def _serve(request: Request, rec: RecRequest) -> Response:
    try:
        response = await _orchestrator(request).recommend(rec)
    except Rejected as exc:
        return OrjsonResponse(exc.body, status_code=exc.status)
    return OrjsonResponse(response.model_dump(mode="json"))


@router.get("/recommendations/home", response_model=RecommendationResponse, tags=["recs"])
async def home(request: Request, user_id: UserIdQ = None, k: KQ = 10) -> Response:
    return await _serve(request, RecRequest(Surface.home, k, user_id))


@router.get(
    "/recommendations/product/{product_id}", response_model=RecommendationResponse, tags=["recs"]
)
async def similar(
    request: Request, product_id: ProductIdP, user_id: UserIdQ = None, k: KQ = 10
) -> Response:
    return await _serve(request, RecRequest(Surface.product, k, user_id, [product_id]))


@router.get("/recommendations/search", response_model=RecommendationResponse, tags=["recs"])
async def search(request: Request, q: SearchQ, user_id: UserIdQ = None, k: KQ = 10) -> Response:
    return await _serve(request, RecRequest(Surface.search, k, user_id, [], q))


@router.get("/recommendations/cart", response_model=RecommendationResponse, tags=["recs"])
async def cart_get(
    request: Request,
    product_ids: Annotated[str, Query(description="Comma-separated product ids, 1..100.")],
    user_id: UserIdQ = None,
    k: KQ = 10,
) -> Response:
    cart = cart_from_query(product_ids, user_id, k)
    return await _serve(request, RecRequest(Surface.cart, cart.k, cart.user_id, cart.product_ids))


@router.post(
    "/recommendations/cart",
    response_model=RecommendationResponse,
    tags=["recs"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CartRequest.model_json_schema()}},
        }
    },
)
async def cart_post(request: Request) -> Response:
    # The body is read here, after authentication, so that a request without a key gets
    # 401 even when its body is malformed.
    cart = validate(CartRequest, parse_json(await request.body()), "body")
    return await _serve(
        request,
        RecRequest(Surface.cart, cart.k, cart.user_id, list(dict.fromkeys(cart.product_ids))),
    )


@router.get(
    "/recommendations/frequently-bought-together/{product_id}",
    response_model=RecommendationResponse,
    tags=["recs"],
)
async def frequently_bought_together(
    request: Request, product_id: ProductIdP, k: KQ = 10
) -> Response:
    return await _serve(
        request, RecRequest(Surface.frequently_bought_together, k, None, [product_id])
    )


@router.post(
    "/events",
    response_model=IngestResult,
    tags=["events"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "One Event or an EventBatch ({'events': [...]}); see contracts.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def post_events(request: Request) -> Response:
    """Forwarded to event-ingest, which validates and writes durably before answering. Its
    answer (2xx or 4xx) is passed through; when it cannot be reached the client gets 503 and
    must retry: an event is never acknowledged without the durable write."""
    settings = request.app.state.settings
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.max_event_body_bytes:
        raise ApiError(413, "payload_too_large", "request body too large")
    body = await request.body()
    if len(body) > settings.max_event_body_bytes:
        raise ApiError(413, "payload_too_large", "request body too large")
    payload = parse_json(body)
    state = request.app.state
    try:
        answer = await state.clients.ingest.request(
            "POST",
            "/v1/events",
            content=body,
            timeout=settings.ingest_timeout_seconds,
            headers={"x-variant": "control"},
        )
    except DownstreamRejected as exc:
        return OrjsonResponse(uniform_body(exc.status, exc.body), status_code=exc.status)
    except DownstreamError as exc:
        raise ApiError(503, "unavailable", "event store unavailable, retry later") from exc
    await state.cache.invalidate(batch_user_ids(payload))
    return Response(answer.content, status_code=answer.status_code, media_type="application/json")


@admin_router.delete("/users/{user_id}", response_model=ErasureResult, tags=["admin"])
async def erase_user(
    request: Request, user_id: Annotated[str, Path(pattern=USER_ID_PATTERN)]
) -> Response:
    """Erasure (admin key): event-ingest deletes events and real-time keys; the gateway's
    cached responses of the user go as well."""
    state = request.app.state
    try:
        result = await state.clients.ingest.call(
            "DELETE",
            f"/v1/users/{user_id}",
            ErasureResult,
            timeout=state.settings.ingest_timeout_seconds,
        )
    except DownstreamRejected as exc:
        return OrjsonResponse(uniform_body(exc.status, exc.body), status_code=exc.status)
    except DownstreamError as exc:
        raise ApiError(503, "unavailable", "erasure service unavailable, retry later") from exc
    await state.cache.invalidate([user_id], hold=False)
    return OrjsonResponse(result.model_dump(mode="json"))
