"""The one input every trainer, the evaluation and the blend tuning take.

`TrainingData` is the implicit user x item matrix of DESIGN section 6 (weighted,
recency-decayed interaction strength; positive entries only), the time of each
pair's latest interaction (for "recent items"), and optional item content
(text, category, price). It comes from Postgres (`ml.training.interactions`) or a
MovieLens ratings file (`ml.evaluation.movielens`).

A `Scorer` scores every item for a batch of users; evaluation, blending and the
champion rule work on scorers only, so they treat every model the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import scipy.sparse as sp

PRICE_BANDS = (0.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 25_000.0)


@dataclass(frozen=True)
class ItemContent:
    """Aligned with `TrainingData.item_ids`."""

    text: list[str]  # name + sub_category (MovieLens: title + genres)
    category: list[str]  # sub_category (MovieLens: first genre)
    price: np.ndarray  # float, NaN when unknown

    def price_band(self) -> np.ndarray:
        """0 = unknown, 1.. = band of PRICE_BANDS (int64)."""
        price = np.asarray(self.price, dtype=float)
        band = np.searchsorted(PRICE_BANDS, np.nan_to_num(price, nan=-1.0), side="right")
        return np.where(np.isnan(price), 0, band).astype(np.int64)

    def subset(self, rows: np.ndarray) -> ItemContent:
        return ItemContent(
            [self.text[i] for i in rows], [self.category[i] for i in rows], self.price[rows]
        )


@dataclass(frozen=True)
class TrainingData:
    user_ids: np.ndarray  # (n_users,) str objects
    item_ids: np.ndarray  # (n_items,) str objects
    matrix: sp.csr_matrix  # (n_users, n_items) float32 > 0
    last_seen: sp.csr_matrix  # same pattern as matrix: epoch seconds (float64)
    content: ItemContent | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def recent_items(self, user: int, n: int) -> np.ndarray:
        """Item indices of `user`, most recent first (ties: stronger first)."""
        lo, hi = self.last_seen.indptr[user], self.last_seen.indptr[user + 1]
        items = self.last_seen.indices[lo:hi]
        order = np.lexsort((-self.matrix.data[lo:hi], -self.last_seen.data[lo:hi]))
        return items[order][:n].astype(np.int64)

    def with_matrix(self, matrix: sp.csr_matrix, last_seen: sp.csr_matrix) -> TrainingData:
        return replace(self, matrix=matrix, last_seen=last_seen)


def from_triples(
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    weights: np.ndarray,
    timestamps: np.ndarray,
    content: dict[str, tuple[str, str, float]] | None = None,
    *,
    all_items: np.ndarray | None = None,
) -> TrainingData:
    """Build from (user, item, weight, epoch seconds) rows; repeated pairs are summed
    (the latest time kept) and pairs with a total weight <= 0 are dropped.
    `all_items` adds items without interactions (they still get content embeddings);
    `content` maps item id -> (text, category, price)."""
    users, u = np.unique(np.asarray(user_ids).astype(str), return_inverse=True)
    known = np.unique(np.asarray(item_ids).astype(str))
    if all_items is not None:
        known = np.union1d(known, np.asarray(all_items).astype(str))
    i = np.searchsorted(known, np.asarray(item_ids).astype(str))
    shape = (len(users), len(known))
    w = sp.csr_matrix((np.asarray(weights, dtype=np.float64), (u, i)), shape=shape)
    w.sum_duplicates()
    ts = sp.coo_matrix((np.asarray(timestamps, dtype=np.float64), (u, i)), shape=shape)
    latest = _max_duplicates(ts, shape)
    keep = w.multiply(w > 0).tocsr()
    keep.eliminate_zeros()
    keep.sort_indices()
    seen = latest.multiply(keep > 0).tocsr()
    seen.sort_indices()
    item_content = None
    if content is not None:
        rows = [content.get(p, (p, "", float("nan"))) for p in known]
        item_content = ItemContent(
            [r[0] for r in rows], [r[1] for r in rows], np.array([r[2] for r in rows], dtype=float)
        )
    return TrainingData(
        users.astype(object), known.astype(object), keep.astype(np.float32), seen, item_content
    )


def _max_duplicates(coo: sp.coo_matrix, shape: tuple[int, int]) -> sp.csr_matrix:
    order = np.lexsort((-coo.data, coo.col, coo.row))
    r, c, d = coo.row[order], coo.col[order], coo.data[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    out = sp.csr_matrix((d[first], (r[first], c[first])), shape=shape)
    out.sort_indices()
    return out


class Scorer(Protocol):
    """Scores every item of `data` for a batch of its users (higher is better).
    Returns (len(users), data.n_items) float32; seen items are masked by the caller."""

    name: str

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray: ...
