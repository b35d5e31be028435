"""HTTP surface of feature-serving: contracts in, FeatureStore, contracts out."""

from __future__ import annotations

import time

from fastapi import Request
from prometheus_client import Histogram

from services.common.app import api_router
from services.common.contracts import (
    ErrorBody,
    ItemFeaturesRequest,
    ItemFeaturesResponse,
    UserFeaturesRequest,
    UserFeaturesResponse,
)
from services.feature_serving.store import FeatureStore

router = api_router(tags=["features"])
_ERRORS = {s: {"model": ErrorBody} for s in (400, 422, 503)}

# The store read alone (Redis/Postgres), without HTTP parsing and serialisation: measured
# here so that any FeatureStore implementation gets it. Failed reads are observed too.
READ_DURATION = Histogram(
    "recsys_feature_read_duration_seconds",
    "Feature store read duration",
    ["kind"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
_READ_USERS = READ_DURATION.labels("users")
_READ_ITEMS = READ_DURATION.labels("items")


def _store(request: Request) -> FeatureStore:
    return request.app.state.store


@router.post("/v1/features/users", response_model=UserFeaturesResponse, responses=_ERRORS)
async def user_features(body: UserFeaturesRequest, request: Request) -> UserFeaturesResponse:
    started = time.perf_counter()
    try:
        users = await _store(request).get_user_features(body.user_ids)
    finally:
        _READ_USERS.observe(time.perf_counter() - started)
    return UserFeaturesResponse(users=users)


@router.post("/v1/features/items", response_model=ItemFeaturesResponse, responses=_ERRORS)
async def item_features(body: ItemFeaturesRequest, request: Request) -> ItemFeaturesResponse:
    started = time.perf_counter()
    try:
        items, missing = await _store(request).get_item_features(body.product_ids)
    finally:
        _READ_ITEMS.observe(time.perf_counter() - started)
    return ItemFeaturesResponse(items=items, missing=missing)
