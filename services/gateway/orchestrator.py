"""One recommendation request: features -> candidates -> ranking, with degradation.

Failure policy (DESIGN sections 2 and 13):
- feature-serving fails: continue as a cold-start user, `features_unavailable`;
- candidate-gen or ranking fails (timeout, 5xx, unreachable, bad response) or returns
  nothing: the fallback list, `<service>_<timeout|unavailable|bad_response>`;
- candidate-gen rejects (4xx: unknown product, invalid input): `Rejected`, which the route
  passes to the client unchanged;
- ranking or feature-serving rejecting our (already validated) request is our bug, not the
  client's: degrade like an outage and log it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from services.common.contracts import (
    CandidateRequest,
    CandidateResponse,
    RankedItem,
    RankRequest,
    RankResponse,
    RecommendationResponse,
    Surface,
    UserFeatures,
    UserFeaturesRequest,
    UserFeaturesResponse,
)
from services.common.http import DownstreamError, DownstreamRejected, ServiceClient
from services.common.logs import request_id_var
from services.gateway.cache import ResponseCache, cache_field
from services.gateway.fallback import FallbackStore
from services.gateway.metrics import CACHE_LOOKUPS, FALLBACKS, record_served

log = logging.getLogger(__name__)

CONTROL = "control"
FEATURES_UNAVAILABLE = "features_unavailable"
NO_CANDIDATES = "no_candidates"


@dataclass(frozen=True)
class RecRequest:
    surface: Surface
    k: int = 10
    user_id: str | None = None
    product_ids: list[str] = field(default_factory=list)
    query: str | None = None


class Rejected(Exception):
    """A downstream 4xx to hand to the client as is (status + uniform error body)."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(f"rejected: {status}")
        self.status, self.body = status, body


class _Degrade(Exception):
    def __init__(self, reason: str, model_versions: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.model_versions = reason, model_versions or {}


def failure_reason(exc: DownstreamError) -> str:
    """DownstreamError -> a bounded fallback_reason (also a metric label)."""
    reason = exc.reason if exc.reason in ("timeout", "bad_response") else "unavailable"
    return f"{exc.service}_{reason}"


def uniform_body(status: int, body: object) -> dict:
    """A downstream 4xx body, guaranteed to have the uniform error shape."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        if isinstance(err.get("code"), str) and isinstance(err.get("message"), str):
            return {
                "error": {"code": err["code"], "message": err["message"], "field": err.get("field")}
            }
    return {"error": {"code": "rejected", "message": f"request rejected ({status})", "field": None}}


@dataclass
class Clients:
    features: ServiceClient
    candidates: ServiceClient
    ranking: ServiceClient
    ingest: ServiceClient

    def all(self) -> list[ServiceClient]:
        return [self.ingest, self.features, self.candidates, self.ranking]


@dataclass
class Timeouts:
    features: float = 0.15
    candidates: float = 0.4
    ranking: float = 0.4


class Orchestrator:
    def __init__(
        self,
        clients: Clients,
        fallback: FallbackStore,
        cache: ResponseCache,
        timeouts: Timeouts,
        candidate_limit: int = 200,
    ) -> None:
        self.clients, self.fallback, self.cache = clients, fallback, cache
        self.timeouts, self.candidate_limit = timeouts, candidate_limit

    def _headers(self, variant: str) -> dict[str, str]:
        # Experiment assignment comes later; downstreams already route on the variant.
        return {"x-variant": variant}

    async def recommend(self, req: RecRequest) -> RecommendationResponse:
        variant = CONTROL
        request_id = request_id_var.get() or ""
        field_name = cache_field(req.surface, variant, req.k, req.product_ids, req.query)
        if req.user_id is not None and self.cache.enabled:
            cached = await self.cache.get(req.user_id, field_name)
            CACHE_LOOKUPS.labels("hit" if cached else "miss").inc()
            if cached is not None:
                record_served(req.surface.value, variant, [i.product_id for i in cached.items])
                return cached.model_copy(update={"request_id": request_id})

        headers = self._headers(variant)
        user, reason = await self._user(req.user_id, headers)
        model_versions: dict[str, str] = {}
        try:
            candidates = await self._candidates(req, user, headers)
            model_versions = candidates.model_versions
            reason = candidates.fallback_reason or reason
            if not candidates.candidates:
                raise _Degrade(candidates.fallback_reason or NO_CANDIDATES, model_versions)
            items = await self._rank(req, user, candidates, headers, model_versions)
        except _Degrade as exc:
            reason, model_versions = exc.reason, exc.model_versions
            items = await self.fallback.select(req.k, exclude=req.product_ids)

        response = RecommendationResponse(
            request_id=request_id,
            user_id=req.user_id,
            surface=req.surface,
            variant=variant,
            experiment=None,
            model_versions=model_versions,
            fallback_reason=reason,
            items=items,
        )
        record_served(req.surface.value, variant, [i.product_id for i in items])
        if reason is not None:
            FALLBACKS.labels(req.surface.value, reason).inc()
        elif req.user_id is not None:
            # Degraded answers are never cached: the next request should try again.
            await self.cache.put(req.user_id, field_name, response)
        return response

    async def _user(
        self, user_id: str | None, headers: dict[str, str]
    ) -> tuple[UserFeatures | None, str | None]:
        """Anonymous -> (None, None). Unknown or unavailable -> an explicit cold-start user,
        so candidate-gen picks its cold-start sources (trending, best value, top category)."""
        if user_id is None:
            return None, None
        try:
            resp = await self.clients.features.call(
                "POST",
                "/v1/features/users",
                UserFeaturesResponse,
                json=UserFeaturesRequest(user_ids=[user_id]),
                timeout=self.timeouts.features,
                headers=headers,
            )
        except (DownstreamError, DownstreamRejected) as exc:
            log.warning("features unavailable, serving cold start", extra={"error": str(exc)})
            return UserFeatures(user_id=user_id, known=False), FEATURES_UNAVAILABLE
        for features in resp.users:
            if features.user_id == user_id:
                return features, None
        return UserFeatures(user_id=user_id, known=False), None

    async def _candidates(
        self, req: RecRequest, user: UserFeatures | None, headers: dict[str, str]
    ) -> CandidateResponse:
        body = CandidateRequest(
            surface=req.surface,
            user_id=req.user_id,
            product_ids=req.product_ids,
            query=req.query,
            user=user,
            limit=self.candidate_limit,
        )
        try:
            return await self.clients.candidates.call(
                "POST",
                "/v1/candidates",
                CandidateResponse,
                json=body,
                timeout=self.timeouts.candidates,
                headers=headers,
            )
        except DownstreamError as exc:
            log.warning("candidate-gen failed", extra={"error": str(exc)})
            raise _Degrade(failure_reason(exc)) from exc
        except DownstreamRejected as exc:
            raise Rejected(exc.status, uniform_body(exc.status, exc.body)) from exc

    async def _rank(
        self,
        req: RecRequest,
        user: UserFeatures | None,
        candidates: CandidateResponse,
        headers: dict[str, str],
        model_versions: dict[str, str],
    ) -> list[RankedItem]:
        body = RankRequest(
            surface=req.surface,
            k=req.k,
            user=user,
            candidates=candidates.candidates,
            context_product_ids=req.product_ids,
            query=req.query,
        )
        try:
            ranked = await self.clients.ranking.call(
                "POST",
                "/v1/rank",
                RankResponse,
                json=body,
                timeout=self.timeouts.ranking,
                headers=headers,
            )
        except DownstreamError as exc:
            log.warning("ranking failed", extra={"error": str(exc)})
            raise _Degrade(failure_reason(exc), model_versions) from exc
        except DownstreamRejected as exc:
            log.error(
                "ranking rejected a gateway request",
                extra={"error": str(exc), "body": str(exc.body)[:300]},
            )
            raise _Degrade("ranking_rejected", model_versions) from exc
        if not ranked.items:
            raise _Degrade(candidates.fallback_reason or NO_CANDIDATES, model_versions)
        return ranked.items[: req.k]
