"""Association rules "users who interacted with a also interacted with b".

Over the binary user x item matrix X of positive-weight pairs: C = X^T X,
count[i] = users of i, n = users with any positive pair, support = C / n,
confidence(a->b) = C[a,b] / count[a], lift = confidence / (count[b] / n); a rule is
kept when C >= min_count, confidence >= min_confidence and lift >= min_lift, and when
it is among the top-N by lift * confidence of its antecedent. Stored as CSR (rows =
antecedents, each row sorted by score, descending). Training registers them as the
`association_rules` model; candidate-gen serves them for frequently-bought-together,
cart and the search fallback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from services.common.models.bundle import align, load_arrays, save_arrays


@dataclass(frozen=True)
class RuleParams:
    min_count: int = 2
    min_confidence: float = 0.05
    min_lift: float = 1.0
    top_n: int = 50


@dataclass(frozen=True)
class Rules:
    matrix: sp.csr_matrix  # a -> b, data = lift * confidence
    support: np.ndarray  # aligned with matrix.data
    confidence: np.ndarray
    lift: np.ndarray
    item_count: np.ndarray  # users per item
    n_users: int
    item_ids: np.ndarray | None = None  # ids of the rows/columns, when saved
    params: dict = field(default_factory=dict)

    @property
    def n_rules(self) -> int:
        return int(self.matrix.nnz)

    def save(self, path: Path) -> None:
        m = self.matrix
        meta = {"params": self.params, "rules": self.n_rules, "n_users": self.n_users}
        save_arrays(
            path,
            meta,
            item_ids=np.asarray(self.item_ids, dtype=object),
            indptr=m.indptr,
            indices=m.indices,
            score=m.data,
            support=self.support,
            confidence=self.confidence,
            lift=self.lift,
            item_count=self.item_count,
        )

    @classmethod
    def load(cls, path: Path) -> Rules:
        meta, a = load_arrays(path)
        n = len(a["item_ids"])
        matrix = sp.csr_matrix((a["score"], a["indices"], a["indptr"]), shape=(n, n))
        return cls(
            matrix,
            a["support"],
            a["confidence"],
            a["lift"],
            a["item_count"],
            int(meta["n_users"]),
            a["item_ids"],
            meta.get("params", {}),
        )

    def aligned(self, item_ids: np.ndarray) -> Rules:
        """The same rules over another item order (unknown items have no rules)."""
        rows = align(self.item_ids, item_ids)  # new index -> old index (-1: none)
        n = len(item_ids)
        old_to_new = np.full(len(self.item_ids), -1, dtype=np.int64)
        old_to_new[rows[rows >= 0]] = np.flatnonzero(rows >= 0)
        coo = self.matrix.tocoo()
        a, b = old_to_new[coo.row], old_to_new[coo.col]
        keep = (a >= 0) & (b >= 0)
        # Re-sort by (antecedent, score desc) so rows keep their best-first order.
        order = np.lexsort((b[keep], -coo.data[keep], a[keep]))
        a, b = a[keep][order], b[keep][order]
        pick = np.flatnonzero(keep)[order]
        indptr = np.searchsorted(a, np.arange(n + 1))
        matrix = sp.csr_matrix((coo.data[pick], b, indptr), shape=(n, n))
        count = np.zeros(n)
        count[rows >= 0] = self.item_count[rows[rows >= 0]]
        # coo of a canonical CSR keeps the data order, so the per-rule arrays follow.
        return Rules(
            matrix,
            self.support[pick],
            self.confidence[pick],
            self.lift[pick],
            count,
            self.n_users,
            np.asarray(item_ids, dtype=object),
            self.params,
        )


def mine_rules(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    n_items: int,
    params: RuleParams,
    item_ids: np.ndarray | None = None,
) -> Rules:
    meta = asdict(params)
    empty = Rules(
        sp.csr_matrix((n_items, n_items)), *(np.zeros(0),) * 3, np.zeros(n_items), 0, item_ids, meta
    )
    if n_users == 0 or len(item_idx) == 0:
        return empty
    x = sp.csr_matrix(
        (np.ones(len(item_idx), dtype=np.float32), (user_idx, item_idx)), shape=(n_users, n_items)
    )
    x.data[:] = 1.0  # duplicates were summed: make it binary again
    count = np.asarray(x.sum(axis=0)).ravel()
    n_users = len(np.unique(user_idx))  # transactions: users with a positive interaction
    co = (x.T @ x).tocoo()
    a, b, c = co.row.astype(np.int64), co.col.astype(np.int64), co.data.astype(float)
    keep = (a != b) & (c >= params.min_count)
    a, b, c = a[keep], b[keep], c[keep]
    confidence = c / count[a]
    lift = confidence / (count[b] / n_users)
    keep = (confidence >= params.min_confidence) & (lift >= params.min_lift)
    a, b, c, confidence, lift = a[keep], b[keep], c[keep], confidence[keep], lift[keep]
    score = lift * confidence
    order = np.lexsort((b, -score, a))  # by antecedent, then score desc (ties: item index)
    a, b, c, confidence, lift, score = (v[order] for v in (a, b, c, confidence, lift, score))
    starts = np.searchsorted(a, np.arange(n_items + 1))
    rank = np.arange(len(a)) - starts[a]
    keep = rank < params.top_n
    a, b, c, confidence, lift, score = (v[keep] for v in (a, b, c, confidence, lift, score))
    indptr = np.searchsorted(a, np.arange(n_items + 1))
    matrix = sp.csr_matrix((score, b, indptr), shape=(n_items, n_items))
    return Rules(matrix, c / n_users, confidence, lift, count, n_users, item_ids, meta)
