"""From candidates to blended scores.

Candidates arrive as (product_id, source, score in [0,1], anchor) rows, several rows
per product when several sources found it. They become one row per product with
one column per source (the best score of that source), and then the signals that
weight profiles refer to (all in [0, 1]):

| signal        | definition                                                              |
| ------------- | ----------------------------------------------------------------------- |
| clicked       | best content/semantic/association/ALS score anchored on one of the user's|
|               | recent items (`user.recent_items`): "because you viewed ..."            |
| collaborative | association score (rules: users who clicked X also clicked Y)           |
| query         | search score (lexical match of the query and its expansion)             |
| content       | content score (TF-IDF similarity to an anchor item)                     |
| popularity    | max(popular, top_category, best_value scores, feature `popularity`)     |
| trending      | max(trending score, feature `trending`)                                 |
| diversity     | 1 - (candidates of the item's sub_category / largest such count), and   |
|               | for a known user averaged with 1 - affinity of its main_category        |
|               | (under-represented categories in the pool and in the user's history)    |
| affinity      | user.category_affinity[main_category] / the user's largest affinity     |
| als           | ALS score (user factors, or item factors similar to an anchor)         |
| two_tower     | two-tower retrieval score (user tower . item tower)                    |
| semantic      | MiniLM embedding similarity to an anchor item or to the query          |

score = sum_s weight[s] * signal[s] + tie_break * popularity + boost[product]
(one matrix-vector product). Business rules and diversity slots come after
(rules.py); reasons are derived from the same columns (reasons.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from services.common.contracts import Candidate, CandidateSource, ItemFeatures, UserFeatures
from services.ranking.profiles import SIGNALS

SOURCES: tuple[CandidateSource, ...] = tuple(CandidateSource)
SRC = {s: i for i, s in enumerate(SOURCES)}
SIG = {s: i for i, s in enumerate(SIGNALS)}
_PRODUCT_ID = re.compile(r"^[A-Z0-9]{10}$")
# Sources whose anchor is a product (used for "because you viewed <name>").
ITEM_ANCHORED = (
    CandidateSource.content,
    CandidateSource.association,
    CandidateSource.semantic,
    CandidateSource.als,
)


def is_product_id(value: str | None) -> bool:
    return value is not None and _PRODUCT_ID.match(value) is not None


@dataclass(frozen=True)
class Pool:
    """One row per unique candidate product."""

    ids: np.ndarray  # object array of product ids
    source_scores: np.ndarray  # (n, len(SOURCES)): best score per source
    clicked: np.ndarray  # (n,): best content/association score anchored on a recent item
    anchors: dict[tuple[str, CandidateSource], str]  # (product, source) -> best row's anchor

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep: np.ndarray) -> Pool:
        return Pool(self.ids[keep], self.source_scores[keep], self.clicked[keep], self.anchors)


def build_pool(candidates: list[Candidate], recent_items: set[str], max_items: int) -> Pool:
    """Group candidate rows by product; keep the `max_items` products with the best
    score in any source (the feature batch limit)."""
    rows = [c for c in candidates if is_product_id(c.product_id)]
    n_src = len(SOURCES)
    if not rows:
        return Pool(np.zeros(0, dtype=object), np.zeros((0, n_src)), np.zeros(0), {})
    pids = np.array([c.product_id for c in rows], dtype=object)
    src = np.array([SRC[c.source] for c in rows], dtype=np.int64)
    score = np.array([c.score for c in rows], dtype=float)
    anchor = np.array([c.anchor for c in rows], dtype=object)
    on_recent = np.array(
        [c.source in ITEM_ANCHORED and c.anchor in recent_items for c in rows], dtype=bool
    )
    ids, inv = np.unique(pids.astype(str), return_inverse=True)
    inv = inv.ravel()
    best = np.zeros(len(ids))
    np.maximum.at(best, inv, score)
    if len(ids) > max_items:
        keep_items = np.zeros(len(ids), dtype=bool)
        keep_items[np.argsort(-best, kind="stable")[:max_items]] = True
        remap = np.cumsum(keep_items) - 1
        keep_rows = keep_items[inv]
        ids, inv = ids[keep_items], remap[inv[keep_rows]]
        src, score, anchor, on_recent = (v[keep_rows] for v in (src, score, anchor, on_recent))
    table = np.zeros((len(ids), n_src))
    np.maximum.at(table, (inv, src), score)
    clicked = np.zeros(len(ids))
    np.maximum.at(clicked, inv[on_recent], score[on_recent])
    # anchor of the best-scoring row per (product, source)
    key = inv * n_src + src
    order = np.lexsort((-score, key))
    _, first = np.unique(key[order], return_index=True)
    rows_best = order[first]
    anchors = {(ids[inv[r]], SOURCES[src[r]]): anchor[r] for r in rows_best.tolist() if anchor[r]}
    return Pool(ids.astype(object), table, clicked, anchors)


@dataclass(frozen=True)
class ItemTable:
    """Item features aligned with a pool."""

    known: np.ndarray
    in_stock: np.ndarray
    popularity: np.ndarray
    trending: np.ndarray
    discount: np.ndarray
    main_category: np.ndarray
    sub_category: np.ndarray

    @classmethod
    def build(cls, ids: np.ndarray, features: dict[str, ItemFeatures]) -> ItemTable:
        rows = [features.get(p) for p in ids.tolist()]
        return cls(
            known=np.array([f is not None for f in rows], dtype=bool),
            in_stock=np.array([f is not None and f.in_stock for f in rows], dtype=bool),
            popularity=np.array([f.popularity if f else 0.0 for f in rows], dtype=float),
            trending=np.array([f.trending if f else 0.0 for f in rows], dtype=float),
            discount=np.array(
                [f.discount_ratio if f and f.discount_ratio is not None else 0.0 for f in rows]
            ),
            main_category=np.array([f.main_category if f else "" for f in rows], dtype=object),
            sub_category=np.array([f.sub_category if f else "" for f in rows], dtype=object),
        )


def signals(pool: Pool, items: ItemTable, user: UserFeatures | None) -> np.ndarray:
    """(n, len(SIGNALS)) matrix, every column in [0, 1]."""
    n = len(pool)
    s = pool.source_scores
    out = np.zeros((n, len(SIGNALS)))
    if n == 0:
        return out
    out[:, SIG["clicked"]] = pool.clicked
    out[:, SIG["collaborative"]] = s[:, SRC[CandidateSource.association]]
    out[:, SIG["query"]] = s[:, SRC[CandidateSource.search]]
    out[:, SIG["content"]] = s[:, SRC[CandidateSource.content]]
    out[:, SIG["als"]] = s[:, SRC[CandidateSource.als]]
    out[:, SIG["two_tower"]] = s[:, SRC[CandidateSource.two_tower]]
    out[:, SIG["semantic"]] = s[:, SRC[CandidateSource.semantic]]
    pop_cols = [SRC[c] for c in ("popular", "top_category", "best_value")]
    out[:, SIG["popularity"]] = np.maximum(s[:, pop_cols].max(axis=1), items.popularity)
    out[:, SIG["trending"]] = np.maximum(s[:, SRC[CandidateSource.trending]], items.trending)
    affinity = category_affinity(items.main_category, user)
    out[:, SIG["affinity"]] = affinity
    _, sub_inv, sub_counts = np.unique(
        items.sub_category.astype(str), return_inverse=True, return_counts=True
    )
    pool_div = 1.0 - sub_counts[sub_inv.ravel()] / sub_counts.max()
    if user is not None and user.known and user.category_affinity:
        out[:, SIG["diversity"]] = 0.5 * (pool_div + (1.0 - affinity))
    else:
        out[:, SIG["diversity"]] = pool_div
    return np.clip(out, 0.0, 1.0)


def category_affinity(main_category: np.ndarray, user: UserFeatures | None) -> np.ndarray:
    if user is None or not user.category_affinity:
        return np.zeros(len(main_category))
    top = max(user.category_affinity.values())
    if top <= 0:
        return np.zeros(len(main_category))
    values = np.array([user.category_affinity.get(c, 0.0) for c in main_category.tolist()])
    return np.clip(values / top, 0.0, 1.0)


def weight_vector(weights: dict[str, float]) -> np.ndarray:
    return np.array([weights.get(s, 0.0) for s in SIGNALS], dtype=float)


def blend(
    sig: np.ndarray,
    weights: np.ndarray,
    *,
    tie_break: float = 0.0,
    boost: np.ndarray | None = None,
) -> np.ndarray:
    score = sig @ weights + tie_break * sig[:, SIG["popularity"]]
    return score if boost is None else score + boost
