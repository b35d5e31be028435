"""Benchmark (not a test): nearest-neighbour search, exact (numpy) versus ANN (faiss HNSW
and IVF-Flat), on a synthetic catalog. Results: docs/benchmarks/ann.md.

  python -m tests.load.bench_ann --items 1000000 --dim 64 --queries 1000 --k 200,50 \
      [--methods exact,hnsw,ivf] [--ef 128,256] [--nprobe 16,32,64] [--norm-spread 0] \
      [--blas-threads 1] [--out docs/benchmarks/ann.md]

Items: a Gaussian mixture like learned embeddings. Cluster (category) sizes are skewed
(Dirichlet), offsets around a cluster centre have a decaying spectrum under a random
rotation (learned embeddings use few directions strongly), rows L2-normalised; with
`--norm-spread s` row norms are then scaled by lognormal(0, s), like raw ALS factors.
Queries are drawn like user vectors: a weighted mix of one to three cluster centres
(picked by cluster size) plus noise, not normalised.

Per configuration: build time (every core), size of the saved faiss index (vectors
included; the exact path holds the vectors only), latency of single-query calls of
`VectorIndex.search` (what a request does) as p50/p95/p99 of wall time and p50/p99 of
the calling thread's CPU time (single-threaded searches: the cost without the waits a
busy machine adds), and recall@k against exact search. The configurations run
interleaved, query by query in shuffled order, so that the noise of a shared machine
hits all alike; a warm-up pass is not timed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from services.common.models.vectors import (
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    VectorIndex,
    load_ann,
    save_ann,
)

WARMUP = 20


@dataclass
class Config:
    name: str  # "exact", "hnsw", "ivf"
    index: VectorIndex
    param: int | None = None  # efSearch or nprobe
    latencies: dict[int, list[float]] = field(default_factory=dict)  # k -> wall seconds
    cpu: dict[int, list[float]] = field(default_factory=dict)  # k -> this thread's CPU s
    results: dict[int, np.ndarray] = field(default_factory=dict)  # k -> (queries, k) rows

    def label(self, k: int) -> str:
        if self.name == "hnsw":  # search raises efSearch to k
            return f"efSearch={max(self.param or 0, k)}"
        return f"nprobe={self.param}" if self.name == "ivf" else "numpy"

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        if self.name == "exact":
            return self.index.search(query, k, exact=True)[0]
        if self.name == "hnsw":
            return self.index.search(query, k, ef_search=self.param)[0]
        return self.index.search(query, k, nprobe=self.param)[0]


def catalog(
    n: int, d: int, clusters: int, spread: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(items, centres, cluster sizes / n, noise basis)."""
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    weights = rng.dirichlet(np.full(clusters, 0.5))
    spectrum = 1.0 / np.sqrt(np.arange(1, d + 1))
    spectrum *= np.sqrt(d / (spectrum**2).sum())  # mean square 1 per dimension
    rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
    basis = (spectrum[:, None] * rotation).astype(np.float32)
    items = np.empty((n, d), dtype=np.float32)
    labels = rng.choice(clusters, size=n, p=weights)
    for start in range(0, n, 200_000):  # bounded temporaries at 1M items
        stop = min(start + 200_000, n)
        noise = rng.standard_normal((stop - start, d), dtype=np.float32) @ basis
        items[start:stop] = centres[labels[start:stop]] + 0.8 * noise
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    if spread > 0:
        items *= rng.lognormal(0.0, spread, (n, 1)).astype(np.float32)
    return items, centres, weights, basis


def user_queries(
    m: int, centres: np.ndarray, weights: np.ndarray, basis: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    out = np.empty((m, centres.shape[1]), dtype=np.float32)
    for i in range(m):
        picks = rng.choice(len(centres), size=rng.integers(1, 4), p=weights)
        mix = rng.dirichlet(np.ones(len(picks)))
        noise = rng.standard_normal(centres.shape[1]).astype(np.float32) @ basis
        out[i] = (mix @ centres[picks] + 0.5 * noise) * rng.uniform(0.5, 2.0)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(np.intersect1d(f[f >= 0], t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def index_size(index: VectorIndex) -> tuple[float, float, float]:
    """(MB of the saved ANN index or of the vectors, load s, mmap load s)."""
    if index.ann is None:
        return index.vectors.nbytes / 2**20, 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.faiss"
        save_ann(index, path)
        size = path.stat().st_size / 2**20
        t0 = time.perf_counter()
        load_ann(index.vectors, path)
        t1 = time.perf_counter()
        load_ann(index.vectors, path, mmap=True)
        t2 = time.perf_counter()
    return size, t1 - t0, t2 - t1


def run(args: argparse.Namespace) -> tuple[str, str]:
    """(Markdown table, the index parameters used)."""
    rng = np.random.default_rng(args.seed)
    ks = sorted({int(k) for k in args.k.split(",")}, reverse=True)
    clusters = args.clusters or max(20, min(1000, args.items // 1000))
    t0 = time.perf_counter()
    items, centres, weights, basis = catalog(args.items, args.dim, clusters, args.norm_spread, rng)
    queries = user_queries(args.queries, centres, weights, basis, rng)
    print(
        f"data: {args.items:,} x {args.dim}, {clusters} clusters, {time.perf_counter() - t0:.1f} s"
    )

    methods = args.methods.split(",")
    configs: list[Config] = []
    builds: dict[str, tuple[float, float, float, float]] = {}  # name -> build s, MB, loads
    notes = [f"{clusters} clusters"]
    for name in methods:
        t0 = time.perf_counter()
        if name == "exact":
            index = VectorIndex.build(items, ann_threshold=len(items))
        else:
            index = VectorIndex.build(
                items,
                ann_threshold=0,
                kind=name,
                m=args.hnsw_m,
                ef_construction=args.ef_construction,
                nlist=args.nlist,
                build_threads=args.build_threads,
            )
        build = time.perf_counter() - t0
        if name == "hnsw":
            notes.append(f"HNSW M={args.hnsw_m}, efConstruction={args.ef_construction}")
        elif name == "ivf":
            notes.append(f"IVF nlist={index.ann.nlist}")
        builds[name] = (build, *index_size(index))
        print(f"{name}: built in {build:.1f} s, {builds[name][1]:.0f} MB", flush=True)
        params = {"exact": [None], "hnsw": args.ef, "ivf": args.nprobe}[name]
        configs += [Config(name, index, p) for p in params]

    order_rng = np.random.default_rng(args.seed + 1)
    for k in ks:
        for c in configs:
            c.latencies[k], c.cpu[k] = [], []
            c.results[k] = np.empty((len(queries), k), dtype=np.int64)
            for q in queries[:WARMUP]:
                c.search(q, k)
        for i, q in enumerate(queries):
            for j in order_rng.permutation(len(configs)):
                c = configs[j]
                t, cpu = time.perf_counter(), time.thread_time()
                c.results[k][i] = c.search(q, k)[0]
                c.latencies[k].append(time.perf_counter() - t)
                c.cpu[k].append(time.thread_time() - cpu)
        print(f"k={k}: measured", flush=True)

    # The reference is the exact rows of the same single-query calls (a batched product
    # sums in another order and may swap near-equal scores at the k-th place).
    truth = {k: configs[0].results[k] for k in ks}
    rows = []
    for k in ks:
        for c in configs:
            lat = np.asarray(c.latencies[k]) * 1e3
            p50, p95, p99 = np.percentile(lat, [50, 95, 99])
            cpu50, cpu99 = np.percentile(np.asarray(c.cpu[k]) * 1e3, [50, 99])
            build, size, load, load_mmap = builds[c.name]
            loads = f"{load:.2f} / {load_mmap:.2f}" if c.name != "exact" else "-"
            rows.append(
                f"| {c.name} | {c.label(k)} | {k} | {p50:.3f} | {p95:.3f} | {p99:.3f} "
                f"| {cpu50:.3f} / {cpu99:.3f} "
                f"| {recall(c.results[k], truth[k]):.4f} | {build:.1f} | {size:,.0f} | {loads} |"
            )
    header = (
        "| method | search | k | p50 (ms) | p95 (ms) | p99 (ms) | CPU p50 / p99 (ms) | recall@k "
        "| build (s) | index (MB) | load / mmap load (s) |\n"
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    return "\n".join([header, *rows]), "; ".join(notes)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", default="200,50", help="comma-separated k values")
    p.add_argument("--methods", default="exact,hnsw,ivf")
    p.add_argument("--ef", type=lambda s: [int(x) for x in s.split(",")], default=[128, 256])
    p.add_argument("--nprobe", type=lambda s: [int(x) for x in s.split(",")], default=[16, 32, 64])
    p.add_argument("--hnsw-m", type=int, default=HNSW_M)
    p.add_argument("--ef-construction", type=int, default=HNSW_EF_CONSTRUCTION)
    p.add_argument("--nlist", type=int, default=None, help="IVF lists (default 4 sqrt(n))")
    p.add_argument("--clusters", type=int, default=None, help="default n/1000 in [20, 1000]")
    p.add_argument("--norm-spread", type=float, default=0.0, help="lognormal sigma of norms")
    p.add_argument("--blas-threads", type=int, default=1, help="numpy BLAS threads")
    p.add_argument("--build-threads", type=int, default=None, help="faiss build threads")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=None, help="append the section to this file")
    args = p.parse_args(argv)
    if args.methods.split(",")[0] != "exact":
        p.error("--methods must start with exact (the reference for recall)")

    from threadpoolctl import threadpool_limits

    load_before = os.getloadavg()[0]
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        table, notes = run(args)
    command = "python -m tests.load.bench_ann " + shlex.join(
        a for a in (argv if argv is not None else sys.argv[1:])
    )
    section = (
        f"\n### {args.items:,} items x {args.dim}"
        f"{f', norm spread {args.norm_spread}' if args.norm_spread else ', unit rows'}"
        f"{f', {args.clusters} clusters' if args.clusters else ''}\n\n"
        f"`{command}`\n\n"
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, BLAS threads "
        f"{args.blas_threads}, load average {load_before:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after, {args.queries} single-query calls per row; {notes}.\n\n"
        f"{table}\n"
    )
    print(section)
    if args.out:
        with args.out.open("a") as f:
            f.write(section)


if __name__ == "__main__":
    main()
