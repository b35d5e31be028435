"""Top-k inner-product search over item vectors: exact (numpy) or ANN (faiss).

Exact search is one matrix-vector product plus `argpartition` (no Python loop over
items); its cost grows with the catalog (~0.3 ms of CPU per query at 5k items, ~4 ms at
100k, ~35 ms at 1M, dim 64). Past `ann_threshold` items a faiss index answers in about a
millisecond whatever the size:

- HNSW (`IndexHNSWFlat`, inner product), the default: recall@200 0.99 at 100k
  and 0.98 at 1M on L2-normalised rows, clustered or not, and the least bad on rows
  whose norms vary (raw ALS factors: 0.7-0.8 recall@200, 0.95-0.97 at k=50).
- IVF-Flat (inner product), `kind="ivf"`: faster, half the memory and a tenth of the
  build time, but only on strongly clustered data; on unclustered data recall@200 falls
  to 0.56 (unit rows) or 0.14 (varying norms).

Measurements, parameters and the choice against annoy / nmslib: docs/benchmarks/ann.md.

Threads: faiss searches of several queries use `threads` OpenMP threads (default 1: a
request is one query and the box has two cores shared with the other services; OpenMP
threads waiting on a busy machine cost 10x in our tests); a single query never spawns
threads. Builds use every core unless `build_threads` says otherwise. The exact path is
numpy's BLAS: serving processes should run with OPENBLAS_NUM_THREADS=1 (on the busy
2-core box a two-thread gemv was 3-45x slower at p50 than a one-thread one).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

ANN_THRESHOLD = 100_000
HNSW_M = 32  # graph degree (2*M links per node at level 0)
HNSW_EF_CONSTRUCTION = 200  # 80 lost 2.5 points of recall@200 at 100k items
HNSW_EF_SEARCH = 256  # raised to k when k is larger (faiss does not)
IVF_NPROBE = 64
IVF_TRAIN_PER_LIST = 64  # k-means training sample per inverted list
SEARCH_THREADS = 1
UNIT_NORM_RTOL = 1e-2  # rows whose non-zero norms agree within 1 % count as one norm

AnnKind = Literal["hnsw", "ivf"]
# One 1-D array of item rows for every query, or one array per query.
Exclude = np.ndarray | Sequence[np.ndarray] | None


@dataclass
class VectorIndex:
    vectors: np.ndarray  # (n, d) float32, C-contiguous
    ann: Any | None = None  # faiss index over the same rows, when built
    ef_search: int = HNSW_EF_SEARCH
    nprobe: int = IVF_NPROBE
    threads: int = SEARCH_THREADS  # faiss threads for multi-query searches

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        *,
        ann_threshold: int = ANN_THRESHOLD,
        kind: AnnKind = "hnsw",
        m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        ef_search: int = HNSW_EF_SEARCH,
        nlist: int | None = None,
        nprobe: int = IVF_NPROBE,
        threads: int = SEARCH_THREADS,
        build_threads: int | None = None,
    ) -> VectorIndex:
        """Exact up to `ann_threshold` rows; past it also an ANN index of `kind`."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = cls(vectors, ef_search=ef_search, nprobe=nprobe, threads=threads)
        if len(vectors) > ann_threshold:
            if not has_one_norm(vectors):
                log.warning(
                    "ANN over %d rows of different norms (inner product, not cosine): "
                    "expect recall@200 near 0.75 (docs/benchmarks/ann.md)",
                    len(vectors),
                )
            if kind == "hnsw":
                index.ann = build_hnsw(vectors, m, ef_construction, ef_search, build_threads)
            elif kind == "ivf":
                index.ann = build_ivf(vectors, nlist, nprobe, build_threads)
            else:
                raise ValueError(f"unknown ANN kind {kind!r}")
        return index

    @property
    def n(self) -> int:
        return len(self.vectors)

    @property
    def kind(self) -> str:
        """What `search` uses by default: "exact", "hnsw" or "ivf"."""
        if self.ann is None:
            return "exact"
        return "hnsw" if hasattr(self.ann, "hnsw") else "ivf"

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exact: bool | None = None,
        exclude: Exclude = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each (m, k), best first; -1 / -inf pad short rows.

        `exact=True` forces brute force even when an ANN index exists. `exclude` drops
        item rows (e.g. already purchased) before the top k is taken, so they do not use
        up slots. `ef_search` / `nprobe` override the index's own for this call.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n_queries = len(queries)
        excl = _per_query(exclude, n_queries, self.n)
        k = max(int(k), 0)
        if k == 0 or self.n == 0:
            return _padded(n_queries, k)
        if self.ann is not None and not exact:
            idx, scores = self._ann_search(queries, k, excl, ef_search, nprobe)
        else:
            idx, scores = self._exact_search(queries, k, excl)
        idx[np.isneginf(scores)] = -1  # excluded or missing
        return idx, scores

    def _exact_search(
        self, queries: np.ndarray, k: int, excl: list[np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(queries) == 1:  # gemv: no transposed (1, n) product to set up
            scores = (self.vectors @ queries[0])[None, :]
        else:
            scores = queries @ self.vectors.T
        if excl is not None:
            for row, items in enumerate(excl):  # per query, not per item
                scores[row, items] = -np.inf
        return exact_top_k(scores, k)

    def _ann_search(
        self,
        queries: np.ndarray,
        k: int,
        excl: list[np.ndarray] | None,
        ef_search: int | None,
        nprobe: int | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        # Excluded rows are filtered after the search: ask for that many more.
        extra = max((len(e) for e in excl), default=0) if excl is not None else 0
        fetch = min(k + extra, self.n)
        if hasattr(self.ann, "hnsw"):
            # efSearch below k cuts recall sharply (faiss does not raise it to k itself).
            ef = max(ef_search or self.ef_search, fetch)
            params = faiss.SearchParametersHNSW(efSearch=ef)
        else:
            params = faiss.SearchParametersIVF(nprobe=nprobe or self.nprobe)
        if len(queries) > 1:
            # omp_set_num_threads is per calling thread; restore it for other faiss work.
            before = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(self.threads)
            try:
                scores, idx = self.ann.search(queries, fetch, params=params)
            finally:
                faiss.omp_set_num_threads(before)
        else:
            scores, idx = self.ann.search(queries, fetch, params=params)
        scores = np.where(idx < 0, -np.inf, scores).astype(np.float32, copy=False)
        if excl is not None and extra:
            drop = np.stack([np.isin(row, items) for row, items in zip(idx, excl, strict=True)])
            scores[drop] = -np.inf
            # Rows stay best first; the stable sort only moves the dropped to the end.
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            idx = np.take_along_axis(idx, order, axis=1)
            scores = np.take_along_axis(scores, order, axis=1)
        idx, scores = idx[:, :k].astype(np.int64), scores[:, :k]
        if idx.shape[1] < k:  # fewer rows than k
            pad_idx, pad_scores = _padded(len(queries), k - idx.shape[1])
            idx = np.hstack([idx, pad_idx])
            scores = np.hstack([scores, pad_scores])
        return idx, scores


def exact_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k of a dense (m, n) score matrix, best first, ties to the lower
    index (as a stable descending argsort); (m, k), -1 / -inf padded when k > n."""
    scores = np.asarray(scores)
    m, n = scores.shape
    k = max(int(k), 0)
    kk = min(k, n)
    if kk == 0:
        return _padded(m, k, scores.dtype)
    if kk < n:
        part = np.argpartition(scores, n - kk, axis=1)[:, n - kk :]
        part = _lowest_index_ties(scores, part, kk)
    else:
        part = np.broadcast_to(np.arange(n), (m, n))
    top = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -top), axis=1)  # by score descending, then index
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    top = np.take_along_axis(top, order, axis=1)
    if kk < k:
        pad_idx, pad_scores = _padded(m, k - kk, scores.dtype)
        idx, top = np.hstack([idx, pad_idx]), np.hstack([top, pad_scores])
    return idx, top


def _lowest_index_ties(scores: np.ndarray, part: np.ndarray, k: int) -> np.ndarray:
    """argpartition keeps an arbitrary subset of the items tied with the k-th score;
    keep the lowest indices instead, so results do not depend on numpy's internals."""
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
    crowded = np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k)
    for r in crowded:  # rows with ties across the boundary (rare for float scores)
        above = np.flatnonzero(scores[r] > kth[r])
        at = np.flatnonzero(scores[r] == kth[r])[: k - len(above)]
        part[r] = np.concatenate([above, at])
    return part


def _padded(m: int, k: int, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    return np.full((m, k), -1, dtype=np.int64), np.full((m, k), -np.inf, dtype=dtype)


def _per_query(exclude: Exclude, m: int, n: int) -> list[np.ndarray] | None:
    """One int64 array of valid item rows per query, or None when nothing is excluded."""
    if exclude is None:
        return None
    if isinstance(exclude, np.ndarray) and exclude.ndim == 1:
        rows = [exclude] * m
    else:
        rows = list(exclude)
        if len(rows) != m:
            raise ValueError(f"exclude has {len(rows)} rows for {m} queries")
    rows = [np.asarray(r, dtype=np.int64).ravel() for r in rows]
    rows = [r[(r >= 0) & (r < n)] for r in rows]  # -1 (unknown id) would mean the last row
    return rows if any(len(r) for r in rows) else None


def has_one_norm(vectors: np.ndarray, rtol: float = UNIT_NORM_RTOL) -> bool:
    """True when all non-zero rows have the same L2 norm (within `rtol`): inner product
    then ranks like cosine, the case both ANN indexes handle well."""
    norms = np.linalg.norm(vectors, axis=1)
    norms = norms[norms > 0]
    return len(norms) == 0 or bool(norms.max() <= norms.min() * (1.0 + rtol))


def build_hnsw(
    vectors: np.ndarray,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
    ef_search: int = HNSW_EF_SEARCH,
    threads: int | None = None,
) -> Any:
    import faiss  # only catalogs past the threshold pay for the import

    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = ef_search  # saved with the index; search passes its own
    _with_threads(threads, index.add, np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def build_ivf(
    vectors: np.ndarray,
    nlist: int | None = None,
    nprobe: int = IVF_NPROBE,
    threads: int | None = None,
) -> Any:
    """IVF-Flat, inner product: k-means lists (default 4 sqrt(n), faiss' lower guideline),
    trained on a sample of `IVF_TRAIN_PER_LIST` rows per list; exact scores in lists."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = vectors.shape
    nlist = nlist or max(1, min(n // 39, int(4 * math.sqrt(n))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
    index.cp.seed = 1234
    index.nprobe = nprobe
    _with_threads(threads, index.train, vectors)
    _with_threads(threads, index.add, vectors)
    return index


def _with_threads(threads: int | None, fn: Any, *args: Any) -> Any:
    import faiss

    if threads is None:
        return fn(*args)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        return fn(*args)
    finally:
        faiss.omp_set_num_threads(before)


def save_ann(index: VectorIndex, path: Path) -> None:
    """Write the ANN index to `path`; with none, remove a stale file there."""
    if index.ann is None:
        path.unlink(missing_ok=True)
        return
    import faiss

    faiss.write_index(index.ann, str(path))


def load_ann(
    vectors: np.ndarray,
    path: Path,
    *,
    ann_threshold: int = ANN_THRESHOLD,
    mmap: bool = False,
    threads: int = SEARCH_THREADS,
) -> VectorIndex:
    """The index of `vectors`, with the ANN index saved at `path` when it exists, else
    built as `VectorIndex.build` would. `mmap` maps the stored vectors of the file
    instead of reading them (page cache shared between processes)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not path.exists():
        if len(vectors) > ann_threshold:
            log.warning("no ANN index at %s for %d rows: building one", path, len(vectors))
        return VectorIndex.build(vectors, ann_threshold=ann_threshold, threads=threads)
    import faiss

    flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
    ann = faiss.read_index(str(path), flags)
    if ann.ntotal != len(vectors) or ann.d != vectors.shape[1]:
        raise ValueError(
            f"ANN index at {path} has {ann.ntotal} x {ann.d} rows, vectors {vectors.shape}"
        )
    index = VectorIndex(vectors, ann, threads=threads)
    if hasattr(ann, "hnsw"):
        index.ef_search = int(ann.hnsw.efSearch)
    else:
        index.nprobe = int(ann.nprobe)
    return index
