"""ALS (implicit feedback) factors for serving: known users, fold-in, similar items.

Scores are inner products of user and item factors. A user unknown to the model
(new since training) but with recent items gets a fold-in vector: the least-squares
user factor for those items with the model's own regularisation,
x = (Y^T Y + Y_u^T (C_u - I) Y_u + lambda I)^-1 Y_u^T C_u 1, C_u = 1 + alpha (Hu et al.).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from services.common.models.bundle import align, load_arrays, save_arrays
from services.common.models.vectors import VectorIndex, load_ann, save_ann

ANN_FILE = "items.faiss"


@dataclass
class AlsBundle:
    user_ids: np.ndarray
    item_ids: np.ndarray
    user_factors: np.ndarray  # (n_users, d) float32
    item_factors: np.ndarray  # (n_items, d) float32
    regularization: float
    alpha: float
    meta: dict = field(default_factory=dict)
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _gram: np.ndarray | None = field(default=None, repr=False)
    _index: VectorIndex | None = field(default=None, repr=False)
    _unit_items: VectorIndex | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._user_index = {u: i for i, u in enumerate(self.user_ids.tolist())}
        y = self.item_factors.astype(np.float64)
        self._gram = y.T @ y

    @property
    def index(self) -> VectorIndex:
        if self._index is None:
            self._index = VectorIndex.build(self.item_factors)
        return self._index

    @property
    def unit_items(self) -> VectorIndex:
        """L2-normalised item factors: cosine similarity for similar items."""
        if self._unit_items is None:
            norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
            self._unit_items = VectorIndex.build(self.item_factors / np.maximum(norms, 1e-9))
        return self._unit_items

    def user_vector(self, user_id: str | None, recent_items: np.ndarray) -> np.ndarray | None:
        """The trained factor of a known user, else the fold-in of `recent_items`
        (item rows of this bundle); None when neither exists."""
        row = self._user_index.get(user_id) if user_id is not None else None
        if row is not None:
            return self.user_factors[row]
        if len(recent_items) == 0:
            return None
        return self.fold_in(recent_items)

    def fold_in(self, items: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        y = self.item_factors[items].astype(np.float64)
        c = 1.0 + self.alpha * (np.ones(len(items)) if weights is None else weights)
        a = self._gram + (y.T * (c - 1.0)) @ y + self.regularization * np.eye(y.shape[1])
        return np.linalg.solve(a, y.T @ c).astype(np.float32)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        return align(self.item_ids, ids)

    def save(self, path: Path) -> None:
        meta = {**self.meta, "regularization": self.regularization, "alpha": self.alpha}
        meta.update(users=len(self.user_ids), items=len(self.item_ids))
        meta["factors"] = int(self.item_factors.shape[1])
        save_arrays(
            path,
            meta,
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            user_factors=self.user_factors,
            item_factors=self.item_factors,
        )
        save_ann(self.index, path / ANN_FILE)

    @classmethod
    def load(cls, path: Path) -> AlsBundle:
        meta, a = load_arrays(path)
        bundle = cls(
            a["user_ids"],
            a["item_ids"],
            a["user_factors"].astype(np.float32),
            a["item_factors"].astype(np.float32),
            float(meta["regularization"]),
            float(meta["alpha"]),
            meta,
        )
        bundle._index = load_ann(bundle.item_factors, path / ANN_FILE)
        return bundle
