"""The ranking pipeline without HTTP: pool -> signals -> blend -> rules -> reasons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.common.contracts import (
    MAX_K,
    ItemFeatures,
    RankedItem,
    RankRequest,
    RankResponse,
)
from services.ranking.reasons import reasons_for
from services.ranking.rules import RuleConfig, eligible, select
from services.ranking.scoring import (
    ITEM_ANCHORED,
    SIG,
    SOURCES,
    ItemTable,
    Pool,
    blend,
    build_pool,
    is_product_id,
    signals,
    weight_vector,
)

MAX_FEATURE_IDS = 1000  # ItemFeaturesRequest limit
MAX_RECENT_FOR_NAMES = 10
MAX_EXTRA_IDS = 200


@dataclass(frozen=True)
class RankConfig:
    rules: RuleConfig = RuleConfig()
    tie_break: float = 0.01
    blocklist: frozenset[str] = frozenset()
    boosts: dict[str, float] | None = None


def prepare(req: RankRequest) -> tuple[Pool, list[str]]:
    """The candidate pool and every product id whose features are needed (the
    candidates, the context items and the items named in reasons), <= 1000 in all."""
    user = req.user
    recent = user.recent_items[:MAX_RECENT_FOR_NAMES] if user and user.known else []
    anchors = [
        c.anchor for c in req.candidates if c.source in ITEM_ANCHORED and is_product_id(c.anchor)
    ]
    extra = list(dict.fromkeys([*req.context_product_ids, *recent, *anchors]))[:MAX_EXTRA_IDS]
    extra = [p for p in extra if is_product_id(p)]
    pool = build_pool(req.candidates, set(recent), MAX_FEATURE_IDS - len(extra))
    ids = list(dict.fromkeys([*pool.ids.tolist(), *extra]))
    return pool, ids


def rank(
    req: RankRequest,
    pool: Pool,
    features: dict[str, ItemFeatures],
    profile: str,
    weights: dict[str, float],
    config: RankConfig,
) -> RankResponse:
    user = req.user if req.user is not None and req.user.known else None
    pool = pool.subset(np.array([p in features for p in pool.ids.tolist()], dtype=bool))
    items = ItemTable.build(pool.ids, features)
    if len(pool) == 0:
        return RankResponse(profile=profile, items=[])
    sig = signals(pool, items, user)
    boost = None
    if config.boosts:
        boost = np.array([config.boosts.get(p, 0.0) for p in pool.ids.tolist()])
    score = blend(sig, weight_vector(weights), tie_break=config.tie_break, boost=boost)

    excluded = set(req.context_product_ids) | set(config.blocklist)
    if user is not None:
        excluded |= set(user.purchased)
    mask = eligible(pool.ids, items.known, items.in_stock, excluded)
    chosen = select(
        score, mask, items.main_category, items.sub_category, min(req.k, MAX_K), config.rules
    )

    names = {p: f.name for p, f in features.items()}
    recent = set(user.recent_items[:MAX_RECENT_FOR_NAMES]) if user else set()
    context = set(req.context_product_ids)
    ranked: list[RankedItem] = []
    for position, i in enumerate(chosen.picked.tolist(), start=1):  # k <= 100 items
        pid = pool.ids[i]
        feat = features[pid]
        present = {
            SOURCES[j]: float(pool.source_scores[i, j])
            for j in np.flatnonzero(pool.source_scores[i] > 0)
        }
        ranked.append(
            RankedItem(
                product_id=pid,
                name=feat.name,
                main_category=feat.main_category,
                sub_category=feat.sub_category,
                price=feat.price,
                image=feat.image,
                score=round(float(score[i]), 6),
                position=position,
                reasons=reasons_for(
                    product_id=pid,
                    main_category=feat.main_category,
                    sub_category=feat.sub_category,
                    discount=float(items.discount[i]),
                    source_scores=present,
                    anchors=pool.anchors,
                    names=names,
                    recent_items=recent,
                    context_items=context,
                    query=req.query,
                    weights=weights,
                    affinity=float(sig[i, SIG["affinity"]]),
                    diversity_pick=i in chosen.diversity_picks,
                ),
                sources=[str(s) for s in SOURCES if s in present],
            )
        )
    return RankResponse(profile=profile, items=ranked)
