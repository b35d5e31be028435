"""Offline ranking metrics of DESIGN section 8, with Microsoft Recommenders' definitions
(so numbers compare with its MovieLens benchmark tables).

`recs` is always (n_users, k) item indices, best first, -1 padded; row u is user u of
the test matrix. Relevance is binary: every held-out item is relevant. Users without
test items are skipped by `evaluate_recs` and the accuracy metrics.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ml.training.dataset import Scorer, TrainingData
from services.common.models.vectors import exact_top_k

METRICS = (
    "precision@{k}",
    "recall@{k}",
    "ndcg@{k}",
    "map",
    "catalog_coverage",
    "intra_list_diversity",
    "novelty",
)


def hits(recs: np.ndarray, test: sp.csr_matrix) -> np.ndarray:
    """(n_users, k) bool: recs[u, r] is a held-out item of u."""
    test = test.tocsr()
    test.sort_indices()
    n_items = test.shape[1]
    rows = np.repeat(np.arange(test.shape[0], dtype=np.int64), np.diff(test.indptr))
    keys = rows * n_items + test.indices  # sorted: rows ascending, indices sorted per row
    query = np.arange(len(recs), dtype=np.int64)[:, None] * n_items + recs
    pos = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    found = keys[pos] == query if len(keys) else np.zeros(recs.shape, dtype=bool)
    return found & (recs >= 0)


def _relevant(test: sp.csr_matrix) -> np.ndarray:
    return np.diff(test.tocsr().indptr)


def precision_at_k(recs: np.ndarray, test: sp.csr_matrix) -> float:
    """Hits in the top k / k (not / min(k, |rel|)), mean over users with test items."""
    n_rel, h = _relevant(test), hits(recs, test)
    users = n_rel > 0
    return float(np.mean(h[users].sum(1) / recs.shape[1])) if users.any() else 0.0


def recall_at_k(recs: np.ndarray, test: sp.csr_matrix) -> float:
    n_rel, h = _relevant(test), hits(recs, test)
    users = n_rel > 0
    return float(np.mean(h[users].sum(1) / n_rel[users])) if users.any() else 0.0


def ndcg_at_k(recs: np.ndarray, test: sp.csr_matrix) -> float:
    """Binary gains, discount 1/log2(rank + 1); the ideal list has min(|rel|, k) hits."""
    n_rel, h = _relevant(test), hits(recs, test)
    users = n_rel > 0
    if not users.any():
        return 0.0
    k = recs.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = h[users] @ discount
    idcg = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(n_rel[users], k)]
    return float(np.mean(dcg / idcg))


def map_at_k(recs: np.ndarray, test: sp.csr_matrix) -> float:
    """Per user: sum of precision@rank over the hits in the top k, / |rel|."""
    n_rel, h = _relevant(test), hits(recs, test)
    users = n_rel > 0
    if not users.any():
        return 0.0
    h = h[users]
    precision = np.cumsum(h, axis=1) / np.arange(1, recs.shape[1] + 1)
    return float(np.mean((precision * h).sum(1) / n_rel[users]))


def catalog_coverage(recs: np.ndarray, n_items: int) -> float:
    """Distinct recommended items / catalog size."""
    return float(len(np.unique(recs[recs >= 0])) / n_items) if n_items else 0.0


def intra_list_diversity(recs: np.ndarray, vectors: sp.spmatrix | np.ndarray) -> float:
    """Mean over users (with >= 2 recs) of 1 - mean pairwise cosine similarity of their
    recommended items. `vectors`: a sparse user x item train matrix (item vectors = its
    binarised columns: cosine of co-occurrence, as Microsoft Recommenders) or a dense
    (n_items, d) array of item vectors."""
    if sp.issparse(vectors):
        items = (sp.csr_matrix(vectors) > 0).T.tocsr().astype(np.float64)
        norms = np.sqrt(np.asarray(items.sum(1)).ravel())
    else:
        items = np.asarray(vectors, dtype=np.float64)
        norms = np.linalg.norm(items, axis=1)
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    valid = recs >= 0
    n = valid.sum(1)
    users = n >= 2
    if not users.any():
        return 0.0
    r, n = recs[users], n[users]
    rows = np.repeat(np.arange(len(r)), n)
    pick = sp.csr_matrix((inv[r[r >= 0]], (rows, r[r >= 0])), shape=(len(r), len(inv)))
    # sum_{i<j} cos(i, j) = (|sum of unit vectors|^2 - sum |unit vector|^2) / 2
    summed = pick @ items
    sq = summed.multiply(summed).sum(1) if sp.issparse(summed) else (summed**2).sum(1)
    self_sq = np.bincount(rows, weights=norms[r[r >= 0]] > 0, minlength=len(r))  # unit or 0
    pair_sum = (np.asarray(sq).ravel() - self_sq) / 2
    return float(np.mean(1.0 - pair_sum / (n * (n - 1) / 2)))


def novelty(recs: np.ndarray, train: sp.spmatrix) -> float:
    """Mean self-information -log2(users of item / users) over all recommended items.
    An item without train users counts as having one (it would be infinitely novel)."""
    binary = sp.csr_matrix(train) > 0
    n_users = int((np.diff(binary.tocsr().indptr) > 0).sum())
    item_users = np.maximum(np.asarray(binary.sum(0)).ravel(), 1)
    r = recs[recs >= 0]
    return float(np.mean(-np.log2(item_users[r] / n_users))) if len(r) and n_users else 0.0


def evaluate_recs(recs: np.ndarray, train: sp.spmatrix, test: sp.csr_matrix) -> dict[str, float]:
    """Every metric of DESIGN section 8, over the users that have test items."""
    k = recs.shape[1]
    users = _relevant(test) > 0
    r, t = recs[users], test.tocsr()[users]
    values = (
        precision_at_k(r, t),
        recall_at_k(r, t),
        ndcg_at_k(r, t),
        map_at_k(r, t),
        catalog_coverage(r, test.shape[1]),
        intra_list_diversity(r, train),
        novelty(r, train),
    )
    return {name.format(k=k): v for name, v in zip(METRICS, values, strict=True)}


def top_k_unseen(scorer: Scorer, data: TrainingData, users: np.ndarray, k: int) -> np.ndarray:
    """(len(users), k) best unseen items of `users`, -1 where fewer than k are scorable."""
    scores = np.array(scorer.score(data, users), dtype=np.float32)
    scores[~np.isfinite(scores)] = -np.inf
    seen = data.matrix[users].tocoo()
    scores[seen.row, seen.col] = -np.inf
    idx, top = exact_top_k(scores, k)
    out = np.full((len(users), k), -1, dtype=np.int64)
    out[:, : idx.shape[1]] = np.where(np.isfinite(top), idx, -1)
    return out


def evaluate_scorer(
    scorer: Scorer, train: TrainingData, test: sp.csr_matrix, k: int = 10, batch: int = 512
) -> tuple[dict[str, float], np.ndarray]:
    """(metrics, recs): top-k unseen items of every user with test items, scored in
    batches; rows of users without test items are -1."""
    recs = np.full((train.n_users, k), -1, dtype=np.int64)
    users = np.flatnonzero(_relevant(test) > 0)
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        recs[chunk] = top_k_unseen(scorer, train, chunk, k)
    return evaluate_recs(recs, train.matrix, test), recs
