"""Benchmark (not a test): candidate generation per request, in-process (no HTTP), on a
synthetic catalog, with the learned sources searching exactly or through an ANN index.
Results: docs/benchmarks/candidates.md.

  python -m tests.load.bench_candidates --items 1000000 --requests 200 --index ivf \
      [--dim 64] [--content-dim 384] [--limit 200] [--users N] [--recent-queries 2] \
      [--blas-threads 1] [--out docs/benchmarks/candidates.md]

What one timed call is: `services.candidate_gen.surfaces.generate(ix, trending, request,
Models(learned, None, {}, 0.35))`, what the `/v1/candidates` route does after parsing the
body, for the home surface (a known user: ~10 recent items, a few purchases, category
affinity, `--recent-queries` recent searches) and the product surface (one anchor, the
same user), `--limit` candidates.

Data (seeded, built once per run):
- Catalog: N items in ~200 sub-categories (the 65 of `ml.taxonomy`, then with an
  adjective: "Wireless Headphones"), Dirichlet sizes, names like "Voltix Pro 123
  Headphones" (400 brands, 20 model words, 999 numbers, the sub-category's nouns);
  Zipf popularity inside each sub-category; ratings, discounts, 3 % out of stock.
- Interactions: users prefer 1-3 sub-categories, power-law activity, Zipf item choice,
  a quarter of the picks the designated complement of the previous item (association
  rules). `build_indexes` gets them as decayed weighted sums per (user, item).
- Learned bundles, item rows = catalog rows, embeddings clustered by sub-category
  (Gaussian per cluster, decaying noise spectrum, as tests/load/bench_ann.py):
  ALS (`--dim`, item factors of lognormal norms, sigma 0.5, like raw ALS factors; user
  factors: a mix of the user's sub-category centres), two-tower (`--dim`, unit item
  vectors; the real numpy user tower, 2 layers, weights chosen so that the query is
  user embedding + mean of the history's item vectors + category shares' centres),
  content embeddings (`--content-dim`, unit rows), association rules (`mine_rules`).
  Wrapped as `Loaded` (fake version labels) and bound with `learned.bind`.

Modes: "exact" (every `VectorIndex` without an ANN index) and, per `--index`, "hnsw" /
"ivf" (`VectorIndex.build(..., ann_threshold=--ann-threshold, kind=...)` over the same
vector arrays, default search parameters). All modes answer the same requests,
interleaved request by request in shuffled order after an untimed warm-up, so machine
noise hits all alike. Per request: wall time and the calling thread's CPU time (numpy BLAS
and faiss run single-threaded in it). Per source: CPU time of each source function
(wrapped in this process only; two clock reads per call). Recall: of each learned
source's list (`limit` items) and of the learned candidates actually served (after the
surface shares the limit), ANN against exact for the same request.
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

WARMUP = 5
SOURCE_FUNCTIONS = (
    "popular", "best_value", "top_category", "content", "association", "search",
    "trending", "merge_best",
)  # fmt: skip
LEARNED_FUNCTIONS = ("als_user", "two_tower_user", "als_similar", "semantic_similar")
LEARNED_SOURCES = {"als", "two_tower", "semantic"}
BRAND_HEADS = (
    "Vol", "Nex", "Son", "Pix", "Zen", "Aur", "Kiv", "Lum", "Ori", "Tek",
    "Zap", "Mir", "Qua", "Rex", "Sol", "Tor", "Ulm", "Vex", "Wyn", "Yar",
)  # fmt: skip
BRAND_TAILS = (
    "tix", "a", "ora", "elon", "tro", "alis", "o", "ix", "on", "ar",
    "us", "en", "ia", "ex", "ova", "ium", "ik", "ara", "eon", "yx",
)  # fmt: skip
MODEL_WORDS = (
    "Pro", "Max", "Air", "Lite", "Plus", "Ultra", "Mini", "Neo", "Prime", "Edge",
    "Core", "One", "Go", "X", "S", "Flex", "Sport", "Classic", "Elite", "Nova",
)  # fmt: skip


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Stage:
    name: str
    seconds: float
    rss: float  # MB after the stage
    note: str = ""


@dataclass
class World:
    """The synthetic shop: catalog columns, interactions, request material."""

    catalog: object  # indexes.Catalog
    interactions: object  # indexes.Interactions
    sub_of: np.ndarray  # item -> sub-category code
    sub_names: list[str]
    main_of_sub: list[str]
    pop: np.ndarray  # item popularity weight (Zipf within sub-category)
    user_ids: list[str]
    user_subs: np.ndarray  # (users, 3) preferred sub-categories
    user_sub_w: np.ndarray  # (users, 3) their weights (0: unused slot)
    history: list[np.ndarray]  # per user: items in time order (oldest first)
    queries: list[list[str]]  # per sub-category: search texts


# --------------------------------------------------------------------------- data


def sub_categories(n_subs: int) -> tuple[list[str], list[str], list[tuple[str, ...]]]:
    """(sub names, their main category, their nouns): the taxonomy's 65, then again with
    one of the main category's adjectives, until there are `n_subs`."""
    from ml.taxonomy import TAXONOMY

    names, mains, nouns = [], [], []
    rep = 0
    while len(names) < n_subs:
        for m in TAXONOMY:
            for s in m.subs:
                if len(names) == n_subs:
                    break
                adj = "" if rep == 0 else m.adjectives[(rep - 1) % len(m.adjectives)] + " "
                names.append(f"{adj}{s.name}")
                mains.append(m.name)
                nouns.append(tuple(w.title() for w in s.nouns))
        rep += 1
    return names, mains, nouns


def make_world(n: int, n_users: int, n_subs: int, rng: np.random.Generator) -> World:
    from ml.synthetic import product_id_for, user_id_for
    from services.candidate_gen.indexes import Catalog, Interactions

    sub_names, main_of_sub, nouns = sub_categories(n_subs)
    n_subs = len(sub_names)
    sizes = rng.multinomial(n - n_subs, rng.dirichlet(np.full(n_subs, 4.0))) + 1
    sub_of = np.repeat(np.arange(n_subs), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    ranks = np.concatenate([rng.permutation(c) for c in sizes])
    pop = 1.0 / (ranks + 1.0) ** 1.1

    brand = rng.integers(0, len(BRAND_HEADS) * len(BRAND_TAILS), n)
    model = rng.integers(0, len(MODEL_WORDS), n)
    number = rng.integers(1, 1000, n)
    noun_pick = rng.random(n)
    brands = [h + t.lower() for h in BRAND_HEADS for t in BRAND_TAILS]
    names = [
        f"{brands[b]} {MODEL_WORDS[m]} {num} {nouns[s][int(u * len(nouns[s]))]}"
        for b, m, num, s, u in zip(
            brand.tolist(), model.tolist(), number.tolist(), sub_of.tolist(), noun_pick.tolist(),
            strict=True,
        )
    ]  # fmt: skip
    product_ids = [product_id_for(i) for i in range(n)]
    price = np.round(np.exp(rng.uniform(np.log(149), np.log(50_000), n))) - 1.0
    discount = np.where(rng.random(n) < 0.65, rng.uniform(0.05, 0.6, n), 0.0)
    rating = np.clip(np.round(rng.normal(4.0, 0.45, n), 1), 1.0, 5.0)
    rating[rng.random(n) < 0.04] = np.nan
    n_ratings = np.round(np.exp(rng.normal(3.5, 1.2, n)) * (1 + 200 * pop))
    catalog = Catalog(
        product_ids=product_ids,
        names=names,
        main_categories=[main_of_sub[s] for s in sub_of.tolist()],
        sub_categories=[sub_names[s] for s in sub_of.tolist()],
        rating=rating,
        no_of_ratings=np.where(np.isnan(rating), 0.0, n_ratings),
        discount_ratio=discount,
        in_stock=rng.random(n) >= 0.03,
        price=price * (1 - discount),
    )

    # Zipf draws inside a sub-category: one searchsorted over "code + CDF in the code".
    cdf = np.empty(n)
    for s in range(n_subs):  # ~200 blocks, build time
        block = np.cumsum(pop[starts[s] : starts[s + 1]])
        cdf[starts[s] : starts[s + 1]] = s + block / block[-1]

    def draw(subs: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(cdf, subs + rng.random(len(subs)) * (1 - 1e-12), side="right")
        return np.minimum(idx, starts[subs + 1] - 1)

    # Each item's complement: a popular item of a "complementary" sub-category.
    complement = draw((sub_of + 1 + rng.integers(0, 3, n)) % n_subs)

    size_p = sizes / sizes.sum()
    user_subs = rng.choice(n_subs, size=(n_users, 3), p=size_p)
    n_pref = rng.integers(1, 4, n_users)
    user_sub_w = rng.dirichlet(np.ones(3), n_users) * (np.arange(3) < n_pref[:, None])
    user_sub_w /= user_sub_w.sum(axis=1, keepdims=True)
    counts = np.clip(np.round(rng.lognormal(np.log(12), 0.8, n_users)), 3, 200).astype(int)
    user_of = np.repeat(np.arange(n_users), counts)
    cum = np.cumsum(user_sub_w, axis=1)[user_of]
    slot = np.minimum((rng.random(len(user_of))[:, None] > cum).sum(axis=1), 2)
    items = draw(user_subs[user_of, slot])
    follow = (rng.random(len(items)) < 0.25) & (np.r_[-1, user_of[:-1]] == user_of)
    items[1:][follow[1:]] = complement[items[:-1][follow[1:]]]
    event_weight = rng.choice([1.0, 2.0, 3.0, 5.0], len(items), p=[0.6, 0.2, 0.12, 0.08])
    event_weight *= rng.uniform(0.3, 1.0, len(items))  # decay
    key, inverse = np.unique(user_of * n + items, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=event_weight)
    user_ids = [user_id_for(u) for u in range(n_users)]
    interactions = Interactions(
        [user_ids[u] for u in (key // n).tolist()],
        [product_ids[i] for i in (key % n).tolist()],
        weights,
    )
    bounds = np.concatenate([[0], np.cumsum(counts)])
    history = [items[bounds[u] : bounds[u + 1]] for u in range(n_users)]

    queries = []
    for s in range(n_subs):
        words = sub_names[s].lower().split()
        noun = nouns[s][0].lower()
        queries.append([noun, f"{words[0]} {noun}", f"{brands[s % len(brands)].lower()} {noun}"])
    return World(
        catalog, interactions, sub_of, sub_names, main_of_sub, pop, user_ids, user_subs,
        user_sub_w, history, queries,
    )  # fmt: skip


def clustered(
    labels: np.ndarray, n_clusters: int, d: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(unit rows (n, d), centres (clusters, d)): a Gaussian per cluster around a random
    centre, offsets with a decaying spectrum under a random rotation (bench_ann's model)."""
    centres = rng.standard_normal((n_clusters, d)).astype(np.float32)
    spectrum = 1.0 / np.sqrt(np.arange(1, d + 1))
    spectrum *= np.sqrt(d / (spectrum**2).sum())
    rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
    basis = (spectrum[:, None] * rotation).astype(np.float32)
    out = np.empty((len(labels), d), dtype=np.float32)
    step = max(1, 50_000_000 // (d * 4 * 4))  # bounded temporaries
    for lo in range(0, len(labels), step):
        hi = min(lo + step, len(labels))
        noise = rng.standard_normal((hi - lo, d), dtype=np.float32) @ basis
        out[lo:hi] = centres[labels[lo:hi]] + 0.8 * noise
        out[lo:hi] /= np.linalg.norm(out[lo:hi], axis=1, keepdims=True)
    return out, centres


def user_tastes(world: World, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mix of each user's preferred sub-category centres plus noise (unnormalised)."""
    mix = np.einsum("uk,ukd->ud", world.user_sub_w, centres[world.user_subs])
    noise = rng.standard_normal(mix.shape).astype(np.float32)
    return (mix + 0.5 * noise).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)).astype(np.float32)


@dataclass
class Bundles:
    als: object
    two_tower: object
    content: object
    rules: object
    vectors: dict[str, np.ndarray]  # index name -> the rows it searches


def make_bundles(world: World, dim: int, content_dim: int, rng) -> Bundles:
    from services.common.models.als import AlsBundle
    from services.common.models.content import ContentBundle
    from services.common.models.rules import RuleParams, mine_rules
    from services.common.models.two_tower import TwoTowerBundle
    from services.common.models.vectors import VectorIndex

    item_ids = np.array(world.catalog.product_ids, dtype=object)
    user_ids = np.array(world.user_ids, dtype=object)
    n_subs = len(world.sub_names)

    # ALS: raw factors, norms lognormal (the popular items of a real model are longer).
    als_unit, als_centres = clustered(world.sub_of, n_subs, dim, rng)
    item_factors = als_unit * rng.lognormal(0.0, 0.5, (len(als_unit), 1)).astype(np.float32)
    als = AlsBundle(
        user_ids, item_ids, user_tastes(world, als_centres, rng) * 0.1, item_factors, 0.1, 40.0
    )

    # Two-tower: input = [user emb (dim), history mean (dim), category shares (n_subs)];
    # layer 0 -> [z, -z] (ReLU), layer 1 -> z: the linear map z = user + history + shares
    # @ centres, computed with the production tower's shapes (2 layers, hidden 2 * dim).
    tt_items, tt_centres = clustered(world.sub_of, n_subs, dim, rng)
    tastes = 0.5 * unit(user_tastes(world, tt_centres, rng))
    eye = np.eye(dim, dtype=np.float32)
    lin = np.vstack([eye, eye, 0.5 * unit(tt_centres)])
    zeros = np.zeros((1, dim), dtype=np.float32)
    two_tower = TwoTowerBundle(
        item_ids=item_ids,
        item_vectors=tt_items,
        user_ids=user_ids,
        categories=np.array(world.sub_names, dtype=object),
        tokens=np.array([], dtype=object),
        weights={
            "user_emb": np.vstack([zeros, tastes]),
            "hist_emb": np.vstack([zeros, tt_items]),
            "item_emb": zeros,  # the item tower is not on the request path
            "user_w0": np.hstack([lin, -lin]),
            "user_b0": np.zeros(2 * dim, dtype=np.float32),
            "user_w1": np.vstack([eye, -eye]),
            "user_b1": np.zeros(dim, dtype=np.float32),
        },
        meta={
            "dim": dim, "history_len": 20, "max_tokens": 24, "normalize": True,
            "price_bands": [0.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 25000.0],
            "user_layers": 2, "item_layers": 0,
        },
    )  # fmt: skip

    content_items, content_centres = clustered(world.sub_of, n_subs, content_dim, rng)
    terms = sorted({w for s in world.sub_names for w in s.lower().split() if w.isalpha()})
    term_vectors = unit(rng.standard_normal((len(terms), content_dim)).astype(np.float32))
    content = ContentBundle(
        item_ids, content_items, np.array(terms, dtype=object), term_vectors,
        index=VectorIndex(content_items),  # the default would build an ANN past 100k
    )  # fmt: skip

    it = world.interactions
    index_of = {p: i for i, p in enumerate(world.catalog.product_ids)}
    items = np.array([index_of[p] for p in it.product_ids], dtype=np.int64)
    users = np.unique(np.array(it.user_ids), return_inverse=True)[1].ravel()
    positive = it.weights > 0
    rules = mine_rules(
        users[positive], items[positive], int(users.max()) + 1, len(item_ids), RuleParams(),
        item_ids=item_ids,
    )  # fmt: skip
    vectors = {
        "als": item_factors,
        "als_similar": als_unit,
        "two_tower": tt_items,
        "content_embeddings": content_items,
    }
    return Bundles(als, two_tower, content, rules, vectors)


def loaded_models(bundles: Bundles, indexes: dict[str, object]) -> dict[str, dict]:
    """alias -> source -> `Loaded`, every vector view over `indexes` (name -> index)."""
    from services.candidate_gen.learned import Loaded
    from services.common.models.registry import CHAMPION, VersionRef

    def ref(source: str) -> VersionRef:
        name = "recsys-" + source.replace("_", "-")
        return VersionRef(source, name, CHAMPION, "bench", None)

    ids = bundles.als.item_ids
    return {
        CHAMPION: {
            "als": Loaded(
                ref("als"),
                bundles.als,
                {"als": (ids, indexes["als"]), "als_similar": (ids, indexes["als_similar"])},
            ),
            "two_tower": Loaded(
                ref("two_tower"), bundles.two_tower, {"two_tower": (ids, indexes["two_tower"])}
            ),
            "content_embeddings": Loaded(
                ref("content_embeddings"),
                bundles.content,
                {"content_embeddings": (ids, indexes["content_embeddings"])},
            ),
            "association_rules": Loaded(ref("association_rules"), bundles.rules),
        }
    }


# --------------------------------------------------------------------------- requests


def make_requests(world: World, n: int, args, rng) -> list[tuple[str, object]]:
    """(surface, CandidateRequest) pairs: n home and n product requests, alternating."""
    from services.common.contracts import CandidateRequest, Surface, UserFeatures

    need = args.recent_items + args.purchased
    lengths = np.array([len(np.unique(h)) for h in world.history])
    eligible = np.flatnonzero(lengths >= need)
    if len(eligible) == 0:
        raise SystemExit("no user has enough history for --recent-items + --purchased")
    users = rng.choice(eligible, size=n, replace=len(eligible) < n)
    in_stock = np.asarray(world.catalog.in_stock)
    main_names = world.catalog.main_categories
    out = []
    for u in users.tolist():
        hist = world.history[u]
        _, first_seen = np.unique(hist[::-1], return_index=True)
        recent = hist[::-1][np.sort(first_seen)]  # distinct, most recent first
        pids = world.catalog.product_ids
        affinity: dict[str, float] = {}
        for i in hist.tolist():
            affinity[main_names[i]] = affinity.get(main_names[i], 0.0) + 1.0
        total = sum(affinity.values())
        subs = world.user_subs[u][world.user_sub_w[u] > 0]
        queries = [
            world.queries[int(rng.choice(subs))][int(rng.integers(0, 3))]
            for _ in range(args.recent_queries)
        ]
        user = UserFeatures(
            user_id=world.user_ids[u],
            known=True,
            recent_items=[pids[i] for i in recent[: args.recent_items].tolist()],
            recent_queries=list(dict.fromkeys(queries)),
            purchased=[pids[i] for i in recent[args.recent_items : need].tolist()],
            category_affinity={c: w / total for c, w in affinity.items()},
        )
        # The product page: a popular in-stock item of one of the user's sub-categories.
        sub = int(rng.choice(subs))
        lo = int(np.searchsorted(world.sub_of, sub))  # sub-categories: contiguous rows
        block = np.arange(lo, int(np.searchsorted(world.sub_of, sub, side="right")))
        block = block[in_stock[block]]
        p = world.pop[block] / world.pop[block].sum()
        anchor = pids[int(rng.choice(block, p=p))]
        limit = args.limit
        out.append(("home", CandidateRequest(surface=Surface.home, user=user, limit=limit)))
        out.append(
            (
                "product",
                CandidateRequest(
                    surface=Surface.product, product_ids=[anchor], user=user, limit=limit
                ),
            )
        )
    return out


class SourceClock:
    """Wraps the source functions (module attributes, this process only) to add up each
    one's CPU time per request and keep the learned sources' item lists."""

    def __init__(self) -> None:
        self.depth = 0
        self.cpu: dict[str, float] = defaultdict(float)
        self.lists: dict[str, np.ndarray] = {}
        self._saved: list[tuple[object, str, object]] = []

    def reset(self) -> None:
        self.cpu = defaultdict(float)
        self.lists = {}

    def install(self) -> None:
        from services.candidate_gen import learned_sources as ls
        from services.candidate_gen import sources as src

        for module, names in ((src, SOURCE_FUNCTIONS), (ls, LEARNED_FUNCTIONS)):
            for name in names:
                fn = getattr(module, name)
                self._saved.append((module, name, fn))
                setattr(module, name, self._wrap(name, fn))

    def uninstall(self) -> None:
        for module, name, fn in self._saved:
            setattr(module, name, fn)
        self._saved = []

    def _wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            if self.depth:  # e.g. trending -> popular: count the outer call only
                return fn(*args, **kwargs)
            self.depth += 1
            cpu = time.thread_time()
            try:
                out = fn(*args, **kwargs)
            finally:
                self.depth -= 1
            self.cpu[name] += time.thread_time() - cpu
            if name in LEARNED_FUNCTIONS:
                self.lists[name] = out.idx
            return out

        return timed


@dataclass
class Mode:
    name: str  # exact / hnsw / ivf
    learned: object
    wall: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sources: dict[str, list[dict[str, float]]] = field(default_factory=lambda: defaultdict(list))
    lists: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=lambda: defaultdict(list))
    served: dict[str, list[set]] = field(default_factory=lambda: defaultdict(list))
    n_candidates: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


# --------------------------------------------------------------------------- run


def build_vector_indexes(bundles: Bundles, kind: str, args, stages: list[Stage]) -> dict:
    from services.common.models.vectors import VectorIndex

    out = {}
    for name, vectors in bundles.vectors.items():
        if kind == "exact":
            out[name] = VectorIndex(vectors)  # shares the array: no copy, no ANN
            continue
        gc.collect()
        before, t0 = rss_mb(), time.perf_counter()
        out[name] = VectorIndex.build(
            vectors, ann_threshold=args.ann_threshold, kind=kind, build_threads=args.build_threads
        )
        seconds = time.perf_counter() - t0
        gc.collect()
        rss = rss_mb()
        ann = out[name].ann
        what = f"nlist={ann.nlist}" if kind == "ivf" else "M=32, efConstruction=200"
        stages.append(
            Stage(
                f"{kind} index `{name}` ({len(vectors):,} x {vectors.shape[1]})",
                seconds,
                rss,
                f"{what}; faiss index {faiss_mb(ann):,.0f} MB (its own copy of the vectors), "
                f"+{rss - before:,.0f} MB RSS",
            )
        )
        print(f"{kind} {name}: {seconds:.1f} s, +{rss - before:,.0f} MB", flush=True)
    return out


def faiss_mb(ann) -> float:
    """Size of the serialised faiss index (what it holds in memory, vectors included)."""
    import faiss

    return faiss.serialize_index(ann).nbytes / 2**20


def run(args: argparse.Namespace) -> str:
    from services.candidate_gen.indexes import build_indexes
    from services.candidate_gen.learned import bind
    from services.candidate_gen.sources import TrendingSnapshot
    from services.candidate_gen.surfaces import Models, generate

    rng = np.random.default_rng(args.seed)
    stages: list[Stage] = [Stage("start (imports)", 0.0, rss_mb())]
    n_users = args.users or max(5000, args.items // 20)

    t0 = time.perf_counter()
    world = make_world(args.items, n_users, args.sub_categories, rng)
    stages.append(
        Stage(
            "synthetic catalog + interactions",
            time.perf_counter() - t0,
            rss_mb(),
            f"{len(world.sub_names)} sub-categories, {n_users:,} users, "
            f"{len(world.interactions.weights):,} (user, item) pairs",
        )
    )
    print(stages[-1], flush=True)

    t0 = time.perf_counter()
    ix = build_indexes(world.catalog, world.interactions)
    stages.append(
        Stage(
            "`build_indexes` (TF-IDF, rules, rankings)",
            time.perf_counter() - t0,
            rss_mb(),
            f"TF-IDF {ix.item_matrix.shape[1]:,} terms, {ix.item_matrix.nnz:,} nnz; "
            f"{ix.rules.n_rules:,} rules",
        )
    )
    print(stages[-1], flush=True)
    pop_order = np.argsort(-ix.popularity)[:500]
    trending = TrendingSnapshot.build(
        ix,
        {ix.product_ids[i]: float(ix.popularity[i]) for i in pop_order.tolist()},
        {m: 1.0 / (r + 1) for r, m in enumerate(ix.main_by_popularity)},
    )

    t0 = time.perf_counter()
    bundles = make_bundles(world, args.dim, args.content_dim, rng)
    stages.append(
        Stage(
            "synthetic learned bundles",
            time.perf_counter() - t0,
            rss_mb(),
            f"ALS/two-tower {args.dim}-d, content {args.content_dim}-d, "
            f"{bundles.rules.n_rules:,} registry rules",
        )
    )
    print(stages[-1], flush=True)

    kinds = ["exact"] + [k for k in ("hnsw", "ivf") if args.index in (k, "all")]
    modes: list[Mode] = []
    for kind in kinds:
        indexes = build_vector_indexes(bundles, kind, args, stages)
        gc.collect()
        before, t0 = rss_mb(), time.perf_counter()
        learned = bind(ix, loaded_models(bundles, indexes))
        seconds = time.perf_counter() - t0
        stages.append(
            Stage(f"`bind` ({kind})", seconds, rss_mb(), f"+{rss_mb() - before:,.0f} MB RSS")
        )
        modes.append(Mode(kind, learned))

    requests = make_requests(world, args.requests, args, rng)
    clock = SourceClock()
    clock.install()
    order_rng = np.random.default_rng(args.seed + 1)
    try:
        for _surface, req in requests[: 2 * WARMUP]:  # untimed: lazy vocabularies, caches
            for mode in modes:
                generate(ix, trending, req, Models(mode.learned, None, {}, 0.35))
        t_run = time.perf_counter()
        for i, (surface, req) in enumerate(requests):
            for j in order_rng.permutation(len(modes)):
                mode = modes[j]
                clock.reset()
                models = Models(mode.learned, None, {}, 0.35)
                wall, cpu = time.perf_counter(), time.thread_time()
                resp = generate(ix, trending, req, models)
                cpu = time.thread_time() - cpu
                mode.wall[surface].append(time.perf_counter() - wall)
                mode.cpu[surface].append(cpu)
                mode.sources[surface].append(dict(clock.cpu))
                mode.lists[surface].append(dict(clock.lists))
                mode.served[surface].append(
                    {
                        (c.source, c.product_id)
                        for c in resp.candidates
                        if str(c.source) in LEARNED_SOURCES
                    }
                )
                mode.n_candidates[surface].append(len(resp.candidates))
            if (i + 1) % 50 == 0:
                print(f"{i + 1}/{len(requests)} requests", flush=True)
        run_seconds = time.perf_counter() - t_run
    finally:
        clock.uninstall()
    stages.append(
        Stage(
            "timed requests",
            run_seconds,
            rss_mb(),
            f"{len(requests)} requests x {len(modes)} modes; peak RSS {peak_rss_mb():,.0f} MB",
        )
    )
    return report(args, stages, modes)


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- report


def recall_of(found: list, truth: list) -> float:
    """Share of the reference items (per request, summed) that the other mode found too;
    items are sets, or arrays of catalog rows."""
    hits = total = 0
    for f, t in zip(found, truth, strict=True):
        f = f if isinstance(f, set) else set(np.asarray(f).tolist())
        t = t if isinstance(t, set) else set(np.asarray(t).tolist())
        hits += len(f & t)
        total += len(t)
    return hits / total if total else float("nan")


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, q))


def report(args, stages: list[Stage], modes: list[Mode]) -> str:
    surfaces = list(modes[0].wall)
    exact = modes[0]
    lines = [
        "| surface | search | wall p50 / p95 / p99 (ms) | CPU p50 / p95 / p99 (ms) "
        "| candidates | learned lists recall | served learned recall |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for surface in surfaces:
        for mode in modes:
            w, c = mode.wall[surface], mode.cpu[surface]
            n_lists = np.mean([sum(len(v) for v in d.values()) for d in exact.lists[surface]])
            n_served = np.mean([len(x) for x in exact.served[surface]])
            rec, served = f"reference ({n_lists:.0f} items)", f"reference ({n_served:.0f} items)"
            if mode is not exact:
                names = sorted({n for d in exact.lists[surface] for n in d})
                found = [[d.get(n, []) for n in names] for d in mode.lists[surface]]
                truth = [[d.get(n, []) for n in names] for d in exact.lists[surface]]
                rec = f"{recall_of(_flat(found), _flat(truth)):.3f}"
                served = f"{recall_of(mode.served[surface], exact.served[surface]):.3f}"
            lines.append(
                f"| {surface} | {mode.name} "
                f"| {ms(w, 50):.2f} / {ms(w, 95):.2f} / {ms(w, 99):.2f} "
                f"| {ms(c, 50):.2f} / {ms(c, 95):.2f} / {ms(c, 99):.2f} "
                f"| {np.mean(mode.n_candidates[surface]):.0f} | {rec} | {served} |"
            )
    latency = "\n".join(lines)

    # Recall per learned source list.
    per_source = ["| surface | source | " + " | ".join(m.name for m in modes[1:]) + " |"]
    per_source.append("| --- | --- |" + " ---: |" * (len(modes) - 1))
    for surface in surfaces:
        names = sorted({n for d in exact.lists[surface] for n in d})
        for name in names:
            truth = [d.get(name, np.zeros(0)) for d in exact.lists[surface]]
            size = np.mean([len(t) for t in truth])
            cells = [
                f"{recall_of([d.get(name, np.zeros(0)) for d in m.lists[surface]], truth):.3f}"
                for m in modes[1:]
            ]
            per_source.append(f"| {surface} | {name} ({size:.0f} items) | {' | '.join(cells)} |")
    per_source_table = "\n".join(per_source)

    # Mean CPU per source (mean, not median: the parts add up to the request).
    breakdown = ["| surface | source | " + " | ".join(m.name for m in modes) + " |"]
    breakdown.append("| --- | --- |" + " ---: |" * len(modes))
    for surface in surfaces:
        names = sorted(
            {n for m in modes for d in m.sources[surface] for n in d},
            key=lambda n: -np.mean([d.get(n, 0.0) for d in exact.sources[surface]]),
        )
        for name in names:
            cells = [
                f"{1e3 * np.mean([d.get(name, 0.0) for d in m.sources[surface]]):.2f}"
                for m in modes
            ]
            breakdown.append(f"| {surface} | {name} | " + " | ".join(cells) + " |")
        rest = [
            1e3 * (np.mean(m.cpu[surface]) - np.mean([sum(d.values()) for d in m.sources[surface]]))
            for m in modes
        ]
        breakdown.append(
            f"| {surface} | rest (plan, allocate, response) | "
            + " | ".join(f"{r:.2f}" for r in rest)
            + " |"
        )
        totals = [1e3 * np.mean(m.cpu[surface]) for m in modes]
        breakdown.append(
            f"| {surface} | **total (mean)** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |"
        )
    breakdown_table = "\n".join(breakdown)

    setup = ["| stage | wall (s) | RSS after (MB) | notes |", "| --- | ---: | ---: | --- |"]
    setup += [f"| {s.name} | {s.seconds:.1f} | {s.rss:,.0f} | {s.note} |" for s in stages]
    return "\n\n".join(
        [
            f"Per request ({args.requests} of each surface, limit {args.limit}):",
            latency,
            "Recall of each learned source's list (ANN against exact, same request):",
            per_source_table,
            "Mean CPU per request by source (ms):",
            breakdown_table,
            "Setup (build and bind once per run; RSS of the whole process):",
            "\n".join(setup),
        ]
    )


def _flat(rows: list[list]) -> list[set]:
    """Per request, the (source, item) pairs of all learned lists."""
    return [{(k, int(i)) for k, lst in enumerate(r) for i in np.asarray(lst)} for r in rows]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=5000)
    p.add_argument("--requests", type=int, default=200, help="per surface (home, product)")
    p.add_argument("--dim", type=int, default=64, help="ALS and two-tower dimension")
    p.add_argument("--content-dim", type=int, default=384, help="content embedding dimension")
    p.add_argument("--limit", "--k", dest="limit", type=int, default=200)
    p.add_argument("--index", choices=("exact", "hnsw", "ivf", "all"), default="all")
    p.add_argument("--ann-threshold", type=int, default=0, help="0: ANN at every size")
    p.add_argument("--users", type=int, default=None, help="default max(5000, items / 20)")
    p.add_argument("--sub-categories", type=int, default=200)
    p.add_argument("--recent-items", type=int, default=10)
    p.add_argument("--purchased", type=int, default=3)
    p.add_argument("--recent-queries", type=int, default=2)
    p.add_argument("--blas-threads", type=int, default=1, help="numpy BLAS threads")
    p.add_argument("--build-threads", type=int, default=None, help="faiss build threads")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=None, help="append the section to this file")
    args = p.parse_args(argv)

    from threadpoolctl import threadpool_limits

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        body = run(args)
    command = "python -m tests.load.bench_candidates " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    section = (
        f"\n### {args.items:,} items\n\n"
        f"`{command}`\n\n"
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, BLAS threads "
        f"{args.blas_threads}, load average {load_before:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after, {time.perf_counter() - started:.0f} s in all.\n\n"
        f"{body}\n"
    )
    print(section)
    if args.out:
        with open(args.out, "a") as f:
            f.write(section)


if __name__ == "__main__":
    main()
