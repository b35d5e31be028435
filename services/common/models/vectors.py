"""Top-k inner-product search over item vectors: exact (numpy) or ANN (faiss).

Exact search is one matrix product plus `argpartition` (no Python loop over items);
it stays below a millisecond per query up to ~100k items. Past `ann_threshold` items
an HNSW graph (faiss) answers in time independent of the catalog size; see
docs/decisions.md ("ANN index") for the choice and docs/benchmarks/ann.md for recall.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ANN_THRESHOLD = 100_000


@dataclass
class VectorIndex:
    vectors: np.ndarray  # (n, d) float32, C-contiguous
    ann: object | None = None  # faiss index over the same vectors, when built

    @classmethod
    def build(cls, vectors: np.ndarray, *, ann_threshold: int = ANN_THRESHOLD) -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = cls(vectors)
        if len(vectors) > ann_threshold:
            index.ann = build_hnsw(vectors)
        return index

    @property
    def n(self) -> int:
        return len(self.vectors)

    def search(
        self, queries: np.ndarray, k: int, *, exact: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each (m, k), best first; -1 / -inf pad short rows."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.n)
        if k <= 0:
            m = len(queries)
            return np.zeros((m, 0), dtype=np.int64), np.zeros((m, 0), dtype=np.float32)
        if self.ann is not None and not exact:
            scores, idx = self.ann.search(queries, k)
            scores = np.where(idx < 0, -np.inf, scores)
            return idx.astype(np.int64), scores
        return exact_top_k(queries @ self.vectors.T, k)


def exact_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k of a dense score matrix, best first (ties: lower index)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -top), axis=1)
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    return idx, np.take_along_axis(top, order, axis=1)


def build_hnsw(vectors: np.ndarray, m: int = 32, ef_construction: int = 80, ef_search: int = 128):
    import faiss  # only catalogs past the threshold pay for the import

    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = ef_search
    index.add(vectors)
    return index


def save_ann(index: VectorIndex, path: Path) -> None:
    if index.ann is not None:
        import faiss

        faiss.write_index(index.ann, str(path))


def load_ann(vectors: np.ndarray, path: Path) -> VectorIndex:
    """The index of `vectors`, with the ANN graph saved at `path` when it exists."""
    index = VectorIndex(np.ascontiguousarray(vectors, dtype=np.float32))
    if path.exists():
        import faiss

        index.ann = faiss.read_index(str(path))
    return index
