"""Which sources serve which surface, and how the `limit` is shared between them.

Each surface lists its sources in priority order with a share of the limit; a
source that returns fewer candidates than its share leaves the rest to the next
ones (in order). The same product may come from several sources: the ranking
service blends the per-source scores. Learned sources (als, two_tower, semantic)
join the plans when their model is loaded (`Learned`); otherwise their shares go
to the heuristic sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from services.candidate_gen import learned_sources as ls
from services.candidate_gen import sources as src
from services.candidate_gen.indexes import Indexes
from services.candidate_gen.learned import Learned
from services.candidate_gen.sources import Hits, TrendingSnapshot
from services.common.contracts import (
    Candidate,
    CandidateRequest,
    CandidateResponse,
    Surface,
    UserFeatures,
)
from services.common.errors import ApiError

MAX_ANCHORS = 10
MAX_QUERIES = 3
TOP_CATEGORIES = 3
NO_SEARCH_MATCH = "no_search_match"
NO_ASSOCIATION_RULES = "no_association_rules"


@dataclass(frozen=True)
class Models:
    """The learned models a request uses: champion, or challenger for that variant;
    `query_vectors`: the MiniLM embeddings of the request's queries."""

    learned: Learned
    variant: str | None = None
    query_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    min_similarity: float = 0.35

    @property
    def rules(self):
        return self.learned.rules.get(self.learned.alias_of("association_rules", self.variant))


@dataclass
class Plan:
    parts: list[tuple[Hits, float]]  # (hits, share of the limit), priority order
    expanded_query: list[str] = field(default_factory=list)
    fallback_reason: str | None = None


def generate(
    ix: Indexes, trending: TrendingSnapshot, req: CandidateRequest, models: Models | None = None
) -> CandidateResponse:
    plan = plan_for(ix, trending, req, models)
    chosen = allocate(plan.parts, req.limit)
    versions = dict(ix.model_versions)
    if models is not None:
        loaded = models.learned.versions(models.variant)
        if "association_rules" in loaded:  # the registry's rules replace the mined ones
            versions["association"] = loaded["association_rules"]
        versions.update(loaded)
    return CandidateResponse(
        candidates=to_candidates(ix, chosen),
        expanded_query=plan.expanded_query,
        fallback_reason=plan.fallback_reason,
        model_versions=versions,
    )


def plan_for(
    ix: Indexes, trending: TrendingSnapshot, req: CandidateRequest, models: Models | None = None
) -> Plan:
    k = req.limit
    user = req.user if req.user is not None and req.user.known else None
    purchased = ix.indices(user.purchased) if user else np.zeros(0, dtype=np.int64)
    if req.surface == Surface.home:
        return _home(ix, trending, user, k, purchased, models)
    if req.surface == Surface.search:
        if req.query is None:
            raise ApiError(422, "validation_error", "query is required for search", "query")
        return _search(ix, trending, user, req.query, k, purchased, models)
    if not req.product_ids:
        raise ApiError(
            422, "validation_error", f"product_ids is required for {req.surface}", "product_ids"
        )
    if req.surface == Surface.cart:
        anchors = ix.indices(req.product_ids)
        if len(anchors) == 0:
            _not_found(req.product_ids[0])
        exclude = np.union1d(anchors, purchased)
        return _cart(ix, anchors, k, exclude, models)
    anchor = ix.index_of.get(req.product_ids[0])
    if anchor is None:
        _not_found(req.product_ids[0])
    anchors = np.array([anchor], dtype=np.int64)
    exclude = np.union1d(ix.indices(req.product_ids), purchased)
    rules = models.rules if models else None
    if req.surface == Surface.product:
        return Plan(
            [
                (src.content(ix, anchors, k, exclude), 0.25),
                (_learned(models, ls.semantic_similar, ix, anchors, k, exclude), 0.2),
                (src.association(ix, anchors, k, exclude, rules), 0.25),
                (_learned(models, ls.als_similar, ix, anchors, k, exclude), 0.15),
                (src.top_category(ix, [ix.sub_category[anchor]], k, exclude, level="sub"), 0.15),
            ]
        )
    return _bought_together(ix, anchors, k, exclude, models)


def _learned(models: Models | None, source, ix: Indexes, *args) -> Hits:
    """A learned source's hits, or none when no model is loaded."""
    if models is None:
        return Hits.empty(src.CandidateSource.popular)
    return source(ix, models.learned, models.variant, *args)


def _not_found(product_id: str):
    raise ApiError(404, "product_not_found", f"product {product_id} not found", "product_ids")


def _home(
    ix: Indexes,
    trending: TrendingSnapshot,
    user: UserFeatures | None,
    k: int,
    purchased: np.ndarray,
    models: Models | None = None,
) -> Plan:
    if user is None:  # cold start
        cats = (trending.categories or ix.main_by_popularity)[:TOP_CATEGORIES]
        return Plan(
            [
                (src.trending(ix, trending, k, purchased), 0.4),
                (src.best_value(ix, k, purchased), 0.3),
                (src.top_category(ix, cats, k, purchased, level="main"), 0.3),
            ]
        )
    anchors = ix.indices(user.recent_items[:MAX_ANCHORS])
    exclude = np.union1d(anchors, purchased)
    searches = [src.search(ix, q, k, exclude)[0] for q in user.recent_queries[:MAX_QUERIES]]
    affinity = sorted(user.category_affinity, key=user.category_affinity.get, reverse=True)
    cats = affinity[:TOP_CATEGORIES] or list(dict.fromkeys(ix.main_category[anchors]))
    rules = models.rules if models else None
    return Plan(
        [
            (_learned(models, ls.als_user, ix, user, k, exclude), 0.2),
            (_learned(models, ls.two_tower_user, ix, user, k, exclude), 0.15),
            (src.association(ix, anchors, k, exclude, rules), 0.15),
            (src.content(ix, anchors, k, exclude), 0.1),
            (_learned(models, ls.semantic_similar, ix, anchors, k, exclude), 0.1),
            (src.merge_best(src.CandidateSource.search, searches, k), 0.1),
            (src.trending(ix, trending, k, exclude), 0.1),
            (src.top_category(ix, cats[:TOP_CATEGORIES], k, exclude, level="main"), 0.05),
            (src.popular(ix, k, exclude), 0.05),
        ]
    )


def _search(
    ix: Indexes,
    trending: TrendingSnapshot,
    user: UserFeatures | None,
    query: str,
    k: int,
    purchased: np.ndarray,
    models: Models | None = None,
) -> Plan:
    anchors = ix.indices(user.recent_items[:MAX_ANCHORS]) if user else np.zeros(0, np.int64)
    exclude = np.union1d(anchors, purchased)
    semantic, extra = Hits.empty(src.CandidateSource.semantic), []
    if models is not None:
        qv = models.query_vectors.get(query)
        learned, variant = models.learned, models.variant
        extra = ls.expansion(learned, variant, query, qv)
        semantic = ls.semantic_search(
            ix, learned, variant, query, qv, k, purchased, models.min_similarity
        )
    hits, expansion = src.search(ix, query, k, purchased, extra)
    rules = models.rules if models else None
    assoc = src.association(ix, anchors, max(k, 200), exclude, rules)
    if len(hits) or len(semantic):
        # Personalise the matches: rules from the user's items, among the matches only.
        if len(assoc):
            keep = np.isin(assoc.idx, np.union1d(hits.idx, semantic.idx))
            assoc = Hits(assoc.source, assoc.idx[keep], assoc.score[keep], assoc.anchor[keep])
        return Plan([(hits, 0.5), (semantic, 0.3), (assoc, 0.2)], expansion)
    return Plan(
        [(assoc.head(k), 0.5), (src.trending(ix, trending, k, exclude), 0.5)],
        expansion,
        NO_SEARCH_MATCH,
    )


def _cart(
    ix: Indexes, anchors: np.ndarray, k: int, exclude: np.ndarray, models: Models | None
) -> Plan:
    cats = list(dict.fromkeys(ix.main_category[anchors]))
    rules = models.rules if models else None
    return Plan(
        [
            (src.association(ix, anchors, k, exclude, rules), 0.4),
            (_learned(models, ls.als_similar, ix, anchors, k, exclude), 0.2),
            (src.content(ix, anchors, k, exclude), 0.2),
            (src.popular(ix, k, exclude, main_categories=cats), 0.2),
        ]
    )


def _bought_together(
    ix: Indexes, anchors: np.ndarray, k: int, exclude: np.ndarray, models: Models | None
) -> Plan:
    assoc = src.association(ix, anchors, k, exclude, models.rules if models else None)
    if len(assoc) >= k:
        return Plan([(assoc, 1.0)])
    # Too few (or no) rules for this item: similar items fill the rest, rules first.
    sub = [ix.sub_category[anchors[0]]]
    return Plan(
        [
            (assoc, 0.4),
            (_learned(models, ls.semantic_similar, ix, anchors, k, exclude), 0.2),
            (src.content(ix, anchors, k, exclude), 0.2),
            (src.top_category(ix, sub, k, exclude, level="sub"), 0.2),
        ],
        fallback_reason=None if len(assoc) else NO_ASSOCIATION_RULES,
    )


def allocate(parts: list[tuple[Hits, float]], limit: int) -> list[Hits]:
    """Give each source its share of `limit`; unused shares go to later (then earlier)
    sources in priority order. Returns the truncated hits, in priority order."""
    sizes = np.array([len(h) for h, _ in parts], dtype=np.int64)
    shares = np.array([s for _, s in parts], dtype=float)
    quota = np.floor(shares / max(shares.sum(), 1e-12) * limit).astype(np.int64)
    quota[: max(limit - int(quota.sum()), 0)] += 1  # the rounding remainder
    take = np.minimum(sizes, quota)
    left = limit - int(take.sum())
    for i in range(len(parts)):  # a handful of sources
        extra = min(int(sizes[i] - take[i]), left)
        take[i] += extra
        left -= extra
    return [h.head(int(n)) for (h, _), n in zip(parts, take, strict=True) if n > 0]


def to_candidates(ix: Indexes, chosen: list[Hits]) -> list[Candidate]:
    out: list[Candidate] = []
    for hits in chosen:
        ids = ix.product_ids[hits.idx]
        scores = np.round(np.clip(hits.score, 0.0, 1.0), 6).tolist()
        anchors = [None] * len(ids) if hits.anchor is None else hits.anchor.tolist()
        out.extend(
            Candidate.model_construct(product_id=p, source=hits.source, score=s, anchor=a)
            for p, s, a in zip(ids.tolist(), scores, anchors, strict=True)
        )
    return out
