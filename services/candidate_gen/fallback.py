"""The gateway's degraded-mode list: trending first, then popular, capped per
sub-category, as RankedItem dicts (written to Redis at every index refresh)."""

from __future__ import annotations

import math

from services.candidate_gen.indexes import Indexes
from services.candidate_gen.sources import TrendingSnapshot
from services.common.contracts import RankedItem


def fallback_items(
    ix: Indexes, trending: TrendingSnapshot, *, size: int = 100, per_category: int = 3
) -> list[dict]:
    # Scores: trending 0.5 + 0.5 * s, popular 0.5 * s, so the list is score-ordered.
    window = size * per_category * 4  # enough to fill the list under the cap
    groups = [
        ("trending", "Trending in", trending.items.idx[:window], 0.5 + 0.5 * trending.items.score),
        ("popular", "Popular in", ix.popular.idx[:window], 0.5 * ix.popular.score),
    ]
    items: list[dict] = []
    seen: set[int] = set()
    per_sub: dict[str, int] = {}
    for source, reason, idx, scores in groups:
        for i, score in zip(idx.tolist(), scores.tolist(), strict=False):  # bounded window
            if len(items) >= size:
                return items
            sub = ix.sub_category[i]
            if i in seen or per_sub.get(sub, 0) >= per_category:
                continue
            seen.add(i)
            per_sub[sub] = per_sub.get(sub, 0) + 1
            price = float(ix.price[i])
            items.append(
                RankedItem(
                    product_id=ix.product_ids[i],
                    name=ix.names[i],
                    main_category=ix.main_category[i],
                    sub_category=sub,
                    price=None if math.isnan(price) else price,
                    image=ix.images[i],
                    score=round(float(score), 6),
                    position=len(items) + 1,
                    reasons=[f"{reason} {ix.main_category[i]}"],
                    sources=[source],
                ).model_dump()
            )
    return items
