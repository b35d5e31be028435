"""Business rules applied after scoring.

1. Drop: unknown to feature-serving, out of stock, already purchased, context items
   (the product being viewed, the cart), blocklisted. Products are unique already.
2. Select k in score order with at most `max_per_category` per sub_category.
3. Diversity slots: `round(diversity_share * k)` slots (at least 1 when k >= 5) are
   kept for the best items of main categories not yet in the list (then of new
   sub-categories), picked after the main pass.
4. If fewer than k remain and `relax_category_cap`, fill with the best of the rest
   ignoring the cap, so the answer has exactly k items whenever k items survive (1).
The final list is in score order (diversity picks usually end up near the bottom).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RuleConfig:
    max_per_category: int = 3
    diversity_share: float = 0.2
    relax_category_cap: bool = True


def eligible(
    ids: np.ndarray,
    known: np.ndarray,
    in_stock: np.ndarray,
    excluded: set[str],
) -> np.ndarray:
    """Mask of products that may be shown (excluded = purchased | context | blocklist)."""
    if not excluded:
        return known & in_stock
    dropped = np.isin(ids.astype(str), np.array(sorted(excluded), dtype=str))
    return known & in_stock & ~dropped


def diversity_slots(k: int, share: float) -> int:
    if share <= 0 or k < 5:
        return 0
    return max(1, round(share * k))


@dataclass(frozen=True)
class Selection:
    picked: np.ndarray  # row indices, best score first
    diversity_picks: frozenset[int]


def select(
    score: np.ndarray,
    mask: np.ndarray,
    main_category: np.ndarray,
    sub_category: np.ndarray,
    k: int,
    config: RuleConfig,
) -> Selection:
    order = np.flatnonzero(mask)
    order = order[np.lexsort((order, -score[order]))]
    reserve = min(diversity_slots(k, config.diversity_share), max(len(order) - 1, 0))
    picked: list[int] = []
    taken: set[int] = set()
    per_sub: dict[str, int] = {}
    mains: set[str] = set()
    diverse: set[int] = set()

    def take(i: int) -> None:
        picked.append(i)
        taken.add(i)
        per_sub[sub_category[i]] = per_sub.get(sub_category[i], 0) + 1
        mains.add(main_category[i])

    def fits(i: int) -> bool:
        return i not in taken and per_sub.get(sub_category[i], 0) < config.max_per_category

    # The loops walk the (bounded) candidate list and stop once the slots are full.
    for i in order.tolist():  # main pass
        if len(picked) >= k - reserve:
            break
        if fits(i):
            take(i)

    def new_main(i: int) -> bool:
        return main_category[i] not in mains

    def new_sub(i: int) -> bool:
        return sub_category[i] not in per_sub

    for novel in (new_main, new_sub):
        for i in order.tolist():  # diversity slots: new main categories, then new subs
            if len(picked) >= k or len(diverse) >= reserve:
                break
            if fits(i) and novel(i):
                take(i)
                diverse.add(i)
    for i in order.tolist():  # unused diversity slots: best of the rest, cap kept
        if len(picked) >= k:
            break
        if fits(i):
            take(i)
    if config.relax_category_cap:
        for i in order.tolist():
            if len(picked) >= k:
                break
            if i not in taken:
                take(i)
    final = np.array(picked, dtype=np.int64)
    final = final[np.lexsort((final, -score[final]))] if len(final) else final
    return Selection(final, frozenset(diverse))
