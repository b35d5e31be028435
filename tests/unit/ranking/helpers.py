from __future__ import annotations

from services.common.contracts import Candidate, ItemFeatures, RankRequest
from services.ranking.profiles import load_profiles
from services.ranking.ranker import RankConfig, prepare, rank
from services.ranking.rules import RuleConfig


def pid(n: int) -> str:
    return f"R{n:09d}"


def feat(n: int, main: str = "Electronics", sub: str = "Phones", **kw) -> ItemFeatures:
    return ItemFeatures(
        product_id=pid(n), name=f"Item {n}", main_category=main, sub_category=sub, **kw
    )


def cand(n: int, source: str, score: float, anchor: str | None = None) -> Candidate:
    return Candidate(product_id=pid(n), source=source, score=score, anchor=anchor)


def run(
    req: RankRequest,
    features: list[ItemFeatures],
    config: RankConfig | None = None,
    profile: str | None = None,
):
    profiles = load_profiles()
    name = profiles.resolve(req.surface, req.user, profile or req.profile)
    pool, _ = prepare(req)
    by_id = {f.product_id: f for f in features}
    config = config or RankConfig(rules=RuleConfig(diversity_share=0.0))
    return rank(req, pool, by_id, name, profiles.weights[name], config)
