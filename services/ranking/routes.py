"""HTTP routes of ranking: resolve the profile, fetch item features, rank."""

from __future__ import annotations

import logging

from fastapi import Request

from services.common.app import api_router
from services.common.contracts import (
    RankRequest,
    RankResponse,
)
from services.common.errors import ApiError
from services.common.http import DownstreamError, DownstreamRejected
from services.ranking.feature_cache import ItemFeatureCache
from services.ranking.profiles import Profiles
from services.ranking.ranker import RankConfig, prepare, rank

log = logging.getLogger(__name__)
router = api_router(tags=["ranking"])


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
        cache: ItemFeatureCache = state.item_features
        try:
            features = await cache.get_many(ids)
        except (DownstreamError, DownstreamRejected) as exc:
            log.warning("feature-serving failed", extra={"error": str(exc)})
            raise ApiError(
                503, "feature_serving_unavailable", f"item features unavailable: {exc}"
            ) from None
    config: RankConfig = state.rank_config
    return rank(body, pool, features, profile, profiles.weights[profile], config)
