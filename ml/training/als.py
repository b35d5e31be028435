"""ALS on the implicit matrix with the `implicit` library (Hu, Koren, Volinsky 2008).

Confidence is 1 + alpha * weight. The defaults were chosen on an inner validation
split of MovieLens ml-latest-small (docs/benchmarks/evaluation.md): strong
regularisation, alpha 10, no BM25 weighting (BM25 damps popular items, and under this
protocol popularity is real signal: it lost in every setting tried). Optional BM25
stays available (`bm25_k1 > 0`). Factors go into an `AlsBundle` for numpy-only serving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from ml.training.dataset import TrainingData
from services.common.models.als import AlsBundle
from services.common.models.bundle import align

NAME = "als"


@dataclass(frozen=True)
class Params:
    factors: int = 128
    regularization: float = 50.0
    alpha: float = 10.0
    iterations: int = 15
    bm25_k1: float = 0.0  # > 0: BM25-weight the matrix first
    bm25_b: float = 0.8
    seed: int = 42

    @classmethod
    def quick(cls) -> Params:
        return cls(factors=64, iterations=8)


def weighted(matrix: sp.csr_matrix, params: Params) -> sp.csr_matrix:
    from implicit.nearest_neighbours import bm25_weight

    if params.bm25_k1 <= 0:
        return matrix.astype(np.float32).tocsr()
    return bm25_weight(matrix, K1=params.bm25_k1, B=params.bm25_b).astype(np.float32).tocsr()


def train(
    data: TrainingData,
    params: Params | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> AlsBundle:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    params = params or Params()
    started = time.perf_counter()
    model = AlternatingLeastSquares(
        factors=params.factors,
        regularization=params.regularization,
        alpha=params.alpha,
        iterations=params.iterations,
        random_state=params.seed,
        calculate_training_loss=False,
    )
    done = 0

    def callback(iteration: int, elapsed: float, loss: float) -> None:
        nonlocal done
        done = iteration + 1
        if progress:
            progress("als", done, params.iterations)

    # implicit parallelises itself; a BLAS thread pool underneath only oversubscribes.
    with threadpool_limits(1, "blas"):
        model.fit(weighted(data.matrix, params), show_progress=False, callback=callback)
    return AlsBundle(
        data.user_ids.copy(),
        data.item_ids.copy(),
        np.asarray(model.user_factors, dtype=np.float32),
        np.asarray(model.item_factors, dtype=np.float32),
        params.regularization,
        params.alpha,
        {"params": asdict(params), "train_seconds": round(time.perf_counter() - started, 3)},
    )


class _AlsScorer:
    name = NAME

    def __init__(self, bundle: AlsBundle) -> None:
        self.bundle = bundle

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        b = self.bundle
        item_rows = align(b.item_ids, data.item_ids)
        user_rows = align(b.user_ids, data.user_ids[users])
        vectors = np.zeros((len(users), b.item_factors.shape[1]), dtype=np.float32)
        known = user_rows >= 0
        vectors[known] = b.user_factors[user_rows[known]]
        for j in np.flatnonzero(~known):  # users new to this model: fold in their items
            lo, hi = data.matrix.indptr[users[j]], data.matrix.indptr[users[j] + 1]
            rows = item_rows[data.matrix.indices[lo:hi]]
            if (rows >= 0).any():
                vectors[j] = b.fold_in(rows[rows >= 0])
        scores = np.full((len(users), data.n_items), -np.inf, dtype=np.float32)
        present = item_rows >= 0
        scores[:, present] = vectors @ b.item_factors[item_rows[present]].T
        return scores


def scorer(bundle: AlsBundle) -> _AlsScorer:
    return _AlsScorer(bundle)
