"""VectorIndex: exact top-k against a naive reference, padding, exclusions, the ANN paths
(forced with a low threshold) against exact, and the saved ANN index."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.models.vectors import (
    HNSW_EF_SEARCH,
    IVF_NPROBE,
    VectorIndex,
    exact_top_k,
    has_one_norm,
    load_ann,
    save_ann,
)

faiss = pytest.importorskip("faiss")


def reference(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable descending argsort, padded to k with -1 / -inf."""
    m, n = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    idx = np.full((m, k), -1, dtype=np.int64)
    top = np.full((m, k), -np.inf, dtype=scores.dtype)
    idx[:, : min(k, n)] = order
    top[:, : min(k, n)] = np.take_along_axis(scores, order, axis=1)
    return idx, top


def clustered(n: int, d: int, *, unit: bool = True, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, d))
    x = centers[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    if not unit:  # raw ALS-like factors: norms spread over an order of magnitude
        x *= rng.lognormal(0.0, 0.5, (n, 1))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def ann() -> dict[str, tuple[np.ndarray, VectorIndex]]:
    """One HNSW (unit rows) and one IVF (varying norms) index over 2,000 items, built once."""
    out = {}
    for kind, unit in (("hnsw", True), ("ivf", False)):
        items = clustered(2000, 16, unit=unit)  # IVF: inner product over varying norms
        # A cheaper graph than the default (m=32, efConstruction=200): keeps the test fast.
        index = VectorIndex.build(
            items,
            ann_threshold=1000,
            kind=kind,
            m=16,
            ef_construction=40,
            ef_search=64,
            nprobe=16,
            build_threads=1,
        )
        out[kind] = items, index
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(np.intersect1d(f[f >= 0], t[t >= 0])) for f, t in zip(found, truth, strict=True)]
    return sum(hits) / (truth >= 0).sum()


@pytest.mark.parametrize("k", [1, 7, 50, 300, 450])
def test_exact_equals_reference_with_ties(k: int) -> None:
    rng = np.random.default_rng(k)
    # Small integer entries: many equal inner products, also across the k-th boundary.
    items = rng.integers(-2, 3, (300, 4)).astype(np.float32)
    queries = rng.integers(-2, 3, (6, 4)).astype(np.float32)
    idx, scores = VectorIndex.build(items).search(queries, k)
    ref_idx, ref_scores = reference(queries @ items.T, k)
    assert idx.shape == scores.shape == (6, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(scores, ref_scores)


def test_exact_equals_reference_random_floats() -> None:
    rng = np.random.default_rng(1)
    items, queries = rng.standard_normal((5000, 16)), rng.standard_normal((4, 16))
    index = VectorIndex.build(items)
    for q in queries:  # the single-query (gemv) path
        idx, scores = index.search(q, 100)
        ref_idx, ref_scores = reference(
            (items.astype(np.float32) @ q.astype(np.float32))[None], 100
        )
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-6)


def test_exact_top_k_all_tied_and_padding() -> None:
    idx, top = exact_top_k(np.zeros((2, 5), dtype=np.float32), 3)
    np.testing.assert_array_equal(idx, [[0, 1, 2], [0, 1, 2]])
    idx, top = exact_top_k(np.array([[1.0, 3.0, 2.0]]), 5)
    np.testing.assert_array_equal(idx, [[1, 2, 0, -1, -1]])
    np.testing.assert_array_equal(top, [[3.0, 2.0, 1.0, -np.inf, -np.inf]])


def test_empty_and_zero_k() -> None:
    index = VectorIndex.build(np.ones((3, 2)))
    idx, scores = index.search(np.ones((2, 2)), 0)
    assert idx.shape == scores.shape == (2, 0)
    empty = VectorIndex.build(np.zeros((0, 2)))
    idx, scores = empty.search(np.ones(2), 4)
    np.testing.assert_array_equal(idx, [[-1] * 4])
    assert np.isneginf(scores).all()


def test_exact_exclude() -> None:
    items = np.arange(10, dtype=np.float32)[:, None]  # score = item row for query [1]
    index = VectorIndex.build(items)
    idx, scores = index.search(np.ones(1), 4, exclude=np.array([9, 7, -1, 99]))
    np.testing.assert_array_equal(idx, [[8, 6, 5, 4]])
    # One array per query; exclusions that leave fewer than k items pad.
    idx, scores = index.search(np.ones((2, 1)), 9, exclude=[np.arange(3), np.arange(8)])
    np.testing.assert_array_equal(idx[0], [9, 8, 7, 6, 5, 4, 3, -1, -1])
    np.testing.assert_array_equal(idx[1], [9, 8] + [-1] * 7)
    assert np.isneginf(scores[1, 2:]).all()
    with pytest.raises(ValueError):
        index.search(np.ones((2, 1)), 3, exclude=[np.arange(3)])


def test_kinds(caplog) -> None:
    assert has_one_norm(clustered(100, 8)) and not has_one_norm(clustered(100, 8, unit=False))
    small = {"ann_threshold": 50, "build_threads": 1}
    assert VectorIndex.build(clustered(100, 8)).kind == "exact"
    assert VectorIndex.build(clustered(100, 8), **small).kind == "hnsw"
    assert VectorIndex.build(clustered(100, 8), kind="ivf", **small).kind == "ivf"
    assert not caplog.records
    VectorIndex.build(clustered(100, 8, unit=False), **small)  # MIPS: a warning, not an error
    assert "different norms" in caplog.text
    with pytest.raises(ValueError):
        VectorIndex.build(clustered(100, 8), kind="annoy", **small)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_ann_recall_against_exact(ann, kind: str) -> None:
    items, index = ann[kind]
    assert index.kind == kind
    queries = clustered(50, 16, seed=1) * 3.0  # user vectors: not unit norm
    idx, scores = index.search(queries, 10)
    truth, _ = index.search(queries, 10, exact=True)
    assert idx.shape == (50, 10)
    assert recall(idx, truth) >= 0.9
    # Flat storage: the scores are the exact inner products, best first.
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, idx, 1), rtol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    one, _ = index.search(queries[0], 10)  # a single 1-D query
    np.testing.assert_array_equal(one, idx[:1])


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_ann_exclude(ann, kind: str) -> None:
    items, index = ann[kind]
    first, _ = index.search(items[0], 20)
    idx, _ = index.search(items[0], 20, exclude=first[0, :5])
    assert not np.isin(idx, first[0, :5]).any() and (idx >= 0).all()


def test_ann_padding() -> None:
    items = clustered(60, 16)
    small = VectorIndex.build(items, ann_threshold=10)
    assert small.kind == "hnsw"
    idx, scores = small.search(items[0], 80)
    assert idx.shape == (1, 80)
    assert (idx[0, 60:] == -1).all() and np.isneginf(scores[0, 60:]).all()
    assert sorted(idx[0, :60]) == list(range(60))  # ef >= k: the whole small graph


def test_multi_query_threads_restored(ann) -> None:
    before = faiss.omp_get_max_threads()
    ann["hnsw"][1].search(clustered(8, 16, seed=2), 5)
    assert faiss.omp_get_max_threads() == before


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_round_trip(ann, tmp_path, kind: str, mmap: bool) -> None:
    items, index = ann[kind]
    queries = clustered(5, 16, seed=3)
    path = tmp_path / "items.faiss"
    save_ann(index, path)
    loaded = load_ann(items, path, mmap=mmap)
    assert loaded.kind == kind
    expected = (64, IVF_NPROBE) if kind == "hnsw" else (HNSW_EF_SEARCH, 16)
    assert (loaded.ef_search, loaded.nprobe) == expected  # the saved one, else defaults
    for a, b in zip(index.search(queries, 10), loaded.search(queries, 10), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        load_ann(items[:1500], path)


def test_save_without_ann_removes_stale_file(tmp_path) -> None:
    path = tmp_path / "items.faiss"
    save_ann(VectorIndex.build(clustered(300, 8), ann_threshold=100), path)
    assert path.exists()
    save_ann(VectorIndex.build(clustered(100, 8)), path)
    assert not path.exists()
    assert load_ann(clustered(100, 8), path).kind == "exact"
    # Missing file past the threshold: built, not silently exact.
    assert load_ann(clustered(300, 8), path, ann_threshold=100).kind == "hnsw"
