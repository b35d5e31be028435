"""HTTP routes of ranking: resolve the profile, fetch item features, rank."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from services.common.contracts import (
    ItemFeaturesRequest,
    ItemFeaturesResponse,
    RankRequest,
    RankResponse,
)
from services.common.errors import ApiError
from services.common.http import DownstreamError, DownstreamRejected, ServiceClient
from services.ranking.profiles import Profiles
from services.ranking.ranker import RankConfig, prepare, rank

log = logging.getLogger(__name__)
router = APIRouter(tags=["ranking"])


@router.post("/v1/rank", response_model=RankResponse)
async def rank_items(body: RankRequest, request: Request) -> RankResponse:
    state = request.app.state
    profiles: Profiles = state.profiles
    try:
        profile = profiles.resolve(body.surface, body.user, body.profile)
    except KeyError:
        known = ", ".join(sorted(profiles.weights))
        raise ApiError(
            422, "unknown_profile", f"unknown profile {body.profile!r}; known: {known}", "profile"
        ) from None
    pool, ids = prepare(body)
    features = {}
    if ids:
        client: ServiceClient = state.feature_client
        try:
            answer = await client.call(
                "POST",
                "/v1/features/items",
                ItemFeaturesResponse,
                json=ItemFeaturesRequest(product_ids=ids),
            )
        except (DownstreamError, DownstreamRejected) as exc:
            log.warning("feature-serving failed", extra={"error": str(exc)})
            raise ApiError(
                503, "feature_serving_unavailable", f"item features unavailable: {exc}"
            ) from None
        features = {f.product_id: f for f in answer.items}
    config: RankConfig = state.rank_config
    return rank(body, pool, features, profile, profiles.weights[profile], config)
