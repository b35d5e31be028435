"""The two reference recommenders every learned model must beat (DESIGN section 8).

`MostPopular` ranks items by their number of train users. `ItemKNN` is Microsoft
Recommenders' SAR: an item-item similarity from co-occurrence counts over the binary
train matrix (jaccard, lift, cosine or raw counts; pairs seen together fewer than
`threshold` times are dropped), user affinity = the user's train weights, optionally
decayed with a half-life on the age of each interaction, and score = affinity @ similarity.
Both are fitted with `fit(train)` and implement the `Scorer` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ml.training.dataset import TrainingData

Similarity = Literal["jaccard", "lift", "cosine", "cooccurrence"]
DAY = 86_400.0


@dataclass
class MostPopular:
    popularity: np.ndarray  # (n_items,) train users per item
    name: str = "most_popular"

    @classmethod
    def fit(cls, train: TrainingData) -> MostPopular:
        return cls(np.asarray((train.matrix > 0).sum(0), dtype=np.float32).ravel())

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(users), len(self.popularity))).copy()


@dataclass
class ItemKNN:
    similarity: sp.csr_matrix  # (n_items, n_items) float32
    half_life_days: float | None = None
    now: float = 0.0  # epoch seconds the decay is measured from (latest train time)
    name: str = "item_knn"

    @classmethod
    def fit(
        cls,
        train: TrainingData,
        *,
        similarity: Similarity = "jaccard",
        half_life_days: float | None = None,
        threshold: int = 1,
    ) -> ItemKNN:
        binary = (train.matrix > 0).astype(np.float32)
        co = (binary.T @ binary).tocsr()
        if threshold > 1:
            co.data[co.data < threshold] = 0
            co.eliminate_zeros()
        co.sort_indices()
        count = co.diagonal().astype(np.float64)
        rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
        ci, cj = count[rows], count[co.indices]
        if similarity == "jaccard":
            sim = co.data / (ci + cj - co.data)
        elif similarity == "lift":
            sim = co.data / (ci * cj)
        elif similarity == "cosine":
            sim = co.data / np.sqrt(ci * cj)
        elif similarity == "cooccurrence":
            sim = co.data.astype(np.float64)
        else:
            raise ValueError(f"unknown similarity {similarity!r}")
        matrix = sp.csr_matrix((sim.astype(np.float32), co.indices, co.indptr), shape=co.shape)
        now = float(train.last_seen.data.max()) if train.last_seen.nnz else 0.0
        return cls(matrix, half_life_days, now)

    def affinity(self, data: TrainingData, users: np.ndarray) -> sp.csr_matrix:
        weights = data.matrix[users].astype(np.float32)
        if self.half_life_days is None:
            return weights
        # SAR's time decay: an interaction loses half its weight every half-life.
        decay = data.last_seen[users].tocsr()
        decay.data = np.exp2(-(self.now - decay.data) / DAY / self.half_life_days)
        return weights.multiply(decay).tocsr()

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        scores = self.affinity(data, users) @ self.similarity
        return np.asarray(scores.toarray() if sp.issparse(scores) else scores, dtype=np.float32)


@dataclass
class Ease:
    """EASE (Steck 2019): the item-item weights B minimising |X - XB|^2 + l2 |B|^2 with a
    zero diagonal, in closed form from the inverse of the item Gram matrix. Not a
    reference baseline but the strongest item-item variant we measured on
    MovieLens, used as a blend source. The inverse is dense: only the `max_items`
    most popular items with at least `min_users` train users get weights, the rest score
    lowest (below that, items have too few users for a useful weight anyway)."""

    weights: np.ndarray  # (n_kept, n_kept) float32
    items: np.ndarray  # (n_kept,) item indices the weights cover
    name: str = "ease"

    @classmethod
    def fit(
        cls, train: TrainingData, *, l2: float = 200.0, min_users: int = 2, max_items: int = 15_000
    ) -> Ease:
        import scipy.linalg as sl

        binary = (train.matrix > 0).astype(np.float32).tocsc()
        users = np.asarray(binary.sum(0)).ravel()
        ranked = np.argsort(-users, kind="stable")[:max_items]
        items = np.sort(ranked[users[ranked] >= min_users])
        x = binary[:, items]
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += l2
        # Cholesky: the Gram matrix plus l2 I is symmetric positive definite; ~3x faster
        # than a general inverse, in float32 to halve memory.
        factor = sl.cho_factor(gram, lower=True, overwrite_a=True, check_finite=False)
        eye = np.eye(len(items), dtype=np.float32)
        inv = sl.cho_solve(factor, eye, overwrite_b=True, check_finite=False)
        weights = -inv / np.diag(inv)
        np.fill_diagonal(weights, 0.0)
        return cls(weights.astype(np.float32), items)

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        x = (data.matrix[users][:, self.items] > 0).astype(np.float32)
        out = np.full((len(users), data.n_items), -np.inf, dtype=np.float32)
        out[:, self.items] = x @ self.weights
        return out
