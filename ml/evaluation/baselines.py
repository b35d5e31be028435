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
