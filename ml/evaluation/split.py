"""The MovieLens comparison protocol's split (DESIGN section 8).

Per user, the interactions are shuffled and `round(ratio * n)` of them stay in train,
the rest become the held-out test set, as Microsoft Recommenders'
`python_stratified_split` does, so our numbers are comparable with its benchmark
tables. Every held-out interaction is relevant, so the test part is binary.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ml.training.dataset import TrainingData


def stratified_split(
    data: TrainingData, ratio: float = 0.75, seed: int = 42
) -> tuple[TrainingData, sp.csr_matrix]:
    """(train, test): train keeps weights, last_seen and content of its pairs; test is a
    binary float32 matrix with the same shape and ids. A user keeps at least one
    interaction in train (a user with one interaction has no test items)."""
    m = data.matrix.tocsr()
    m.sort_indices()
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(data.n_users), counts)
    # One random key per interaction, sorted within each user: a per-user shuffle
    # without a Python loop over users.
    keys = np.random.default_rng(seed).random(m.nnz)
    order = np.lexsort((keys, rows))
    rank = np.empty(m.nnz, dtype=np.int64)
    rank[order] = np.arange(m.nnz) - np.repeat(m.indptr[:-1], counts)
    # np.round is round-half-to-even, like Python's round() in the reference code.
    keep = np.maximum(np.round(ratio * counts), 1).astype(np.int64)
    in_train = rank < keep[rows]
    train = _select(m, rows, in_train)
    # last_seen has the pattern of matrix; multiply rather than rely on its entry order.
    train_seen = data.last_seen.multiply(train > 0).tocsr()
    train_seen.sort_indices()
    test = _select(m, rows, ~in_train)
    test.data[:] = 1.0
    return data.with_matrix(train, train_seen), test.astype(np.float32)


def _select(m: sp.csr_matrix, rows: np.ndarray, mask: np.ndarray) -> sp.csr_matrix:
    """The entries of `m` (CSR; `rows`/`mask` aligned with m.data) where `mask`."""
    indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[mask], minlength=m.shape[0]), out=indptr[1:])
    return sp.csr_matrix((m.data[mask], m.indices[mask], indptr), shape=m.shape)
