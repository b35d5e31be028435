"""The ranking blend of DESIGN section 7, with weights tuned offline.

Each source's scores are put on one scale per user before the weighted sum: min-max
over the user's unseen items (seen items get 0, non-finite scores the lowest value).
On the inner validation split of ml-latest-small (EASE, ALS, two-tower, item-kNN),
min-max and z-scores tied (nDCG@10 0.230 / 0.231) and ranks were lower (0.228); min-max
is kept because it is bounded, so a weight means the same for every user and source,
and it keeps the gaps a rank discards (how much better a confident source's top items
are). The weights are found by coordinate search on a grid, on a validation split that
must not be the final test split: the caller splits its train part again
(`ml.evaluation.run`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ml.evaluation import metrics as M
from ml.training.dataset import Scorer, TrainingData
from services.common.models.vectors import exact_top_k

Normalise = Literal["minmax", "rank", "zscore"]
GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
QUICK_GRID = (0.0, 0.5, 1.0)
ACCURACY: dict[str, Callable[[np.ndarray, sp.csr_matrix], float]] = {
    "precision": M.precision_at_k,
    "recall": M.recall_at_k,
    "ndcg": M.ndcg_at_k,
    "map": M.map_at_k,
}


def normalise(scores: np.ndarray, seen: np.ndarray, how: Normalise = "minmax") -> np.ndarray:
    """Per row, over the unseen items (`seen` bool, same shape): scores on [0, 1] (minmax,
    rank) or mean 0 / std 1 (zscore); seen items get 0. Non-finite scores count as the
    row's lowest."""
    s = np.array(scores, dtype=np.float32)
    free = ~seen
    ok = np.isfinite(s) & free
    lo = np.where(ok, s, np.inf).min(1, keepdims=True)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    s = np.where(ok, s, lo)
    if how == "minmax":
        hi = np.where(free, s, -np.inf).max(1, keepdims=True)
        out = (s - lo) / np.maximum(hi - lo, 1e-12)
    elif how == "rank":
        ranks = np.argsort(np.argsort(np.where(free, s, -np.inf), axis=1), axis=1)
        n_seen = seen.sum(1, keepdims=True)
        out = (ranks - n_seen) / np.maximum(free.sum(1, keepdims=True) - 1, 1)
    elif how == "zscore":
        n = np.maximum(free.sum(1, keepdims=True), 1)
        mean = np.where(free, s, 0).sum(1, keepdims=True) / n
        std = np.sqrt(np.where(free, (s - mean) ** 2, 0).sum(1, keepdims=True) / n)
        out = (s - mean) / np.maximum(std, 1e-12)
    else:
        raise ValueError(f"unknown normalisation {how!r}")
    return np.where(free, out, 0.0).astype(np.float32)


def _seen(data: TrainingData, users: np.ndarray) -> np.ndarray:
    seen = np.zeros((len(users), data.n_items), dtype=bool)
    rows = data.matrix[users].tocoo()
    seen[rows.row, rows.col] = True
    return seen


@dataclass
class BlendScorer:
    scorers: dict[str, Scorer]
    weights: dict[str, float]
    how: Normalise = "minmax"
    name: str = "blend"

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        seen = _seen(data, users)
        total = np.zeros((len(users), data.n_items), dtype=np.float32)
        for name, scorer in self.scorers.items():
            w = self.weights.get(name, 0.0)
            if w:
                total += w * normalise(scorer.score(data, users), seen, self.how)
        return total


def tune_weights(
    scorers: dict[str, Scorer],
    train: TrainingData,
    validation: sp.csr_matrix,
    *,
    grid: Sequence[float] = GRID,
    metric: str = "ndcg@10",
    how: Normalise = "minmax",
    rounds: int = 2,
    max_users: int = 5_000,
    max_cells: int = 150_000_000,
    seed: int = 42,
) -> tuple[dict[str, float], dict[str, float]]:
    """(weights, validation metrics): coordinate search over `grid`, one weight at a time,
    starting from the best single source, keeping a change only when `metric` improves. The
    normalised scores of (at most `max_users`, fewer when the score matrices would pass
    `max_cells` floats) validation users are computed once, so a trial is one weighted
    sum and one top-k."""
    kind, _, k_text = metric.partition("@")
    if kind not in ACCURACY:
        raise ValueError(f"cannot tune on {metric!r}; one of {sorted(ACCURACY)} (@k)")
    k = int(k_text or 10)
    users = np.flatnonzero(np.diff(validation.tocsr().indptr) > 0)
    cap = max(1, min(max_users, max_cells // max(1, len(scorers) * train.n_items)))
    if len(users) > cap:
        users = np.sort(np.random.default_rng(seed).choice(users, cap, replace=False))
    names = list(scorers)
    seen = _seen(train, users)
    parts = [normalise(scorers[n].score(train, users), seen, how) for n in names]
    test = validation.tocsr()[users]

    def recs_for(w: dict[str, float]) -> np.ndarray:
        total = sum((w[n] * p for n, p in zip(names, parts, strict=True)), np.zeros_like(parts[0]))
        total[seen] = -np.inf
        idx, top = exact_top_k(total, k)
        return np.where(np.isfinite(top), idx, -1)

    def value(w: dict[str, float]) -> float:
        return ACCURACY[kind](recs_for(w), test) if any(w.values()) else -1.0

    # Start from the best single source: from equal weights, a weak source that no
    # single step can remove keeps its weight.
    singles = [{m: float(m == n) for m in names} for n in names]
    best_value, best = max(((value(w), w) for w in singles), key=lambda vw: vw[0])
    for _ in range(rounds):
        changed = False
        for n in names:
            for g in grid:
                if g == best[n]:
                    continue
                trial = {**best, n: float(g)}
                v = value(trial)
                if v > best_value + 1e-9:
                    best, best_value, changed = trial, v, True
        if not changed:
            break
    # Scale so the largest weight is 1: the ranking is scale-free, the record is readable.
    top = max(best.values())
    weights = {n: round(w / top, 4) for n, w in best.items()}
    # Full-size recs and test (other users empty) so novelty counts every train user.
    recs = np.full((train.n_users, k), -1, dtype=np.int64)
    chosen = recs_for(best)
    recs[users, : chosen.shape[1]] = chosen
    keep = sp.diags(np.isin(np.arange(train.n_users), users).astype(np.float32))
    metrics = M.evaluate_recs(recs, train.matrix, (keep @ validation).tocsr())
    return weights, metrics
