"""HTTP surface of feature-serving: contracts in, FeatureStore, contracts out."""

from __future__ import annotations

from fastapi import Request

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


def _store(request: Request) -> FeatureStore:
    return request.app.state.store


@router.post("/v1/features/users", response_model=UserFeaturesResponse, responses=_ERRORS)
async def user_features(body: UserFeaturesRequest, request: Request) -> UserFeaturesResponse:
    users = await _store(request).get_user_features(body.user_ids)
    return UserFeaturesResponse(users=users)


@router.post("/v1/features/items", response_model=ItemFeaturesResponse, responses=_ERRORS)
async def item_features(body: ItemFeaturesRequest, request: Request) -> ItemFeaturesResponse:
    items, missing = await _store(request).get_item_features(body.product_ids)
    return ItemFeaturesResponse(items=items, missing=missing)
