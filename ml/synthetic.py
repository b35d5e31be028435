"""Deterministic synthetic shop: catalog, users and interaction events (DESIGN section 6).

Pure: the same (seed, sizes, days, end date) always gives the same data. Structure
that the models should be able to find:
- users prefer 1-3 main categories (Dirichlet weights) and have power-law activity;
- item popularity is Zipf-like within each sub-category;
- sessions follow funnels (search? -> view -> click -> add_to_cart -> purchase, with
  occasional wishlist and remove_from_cart);
- co-purchase: complementary sub-categories (taxonomy.COMPLEMENTS) and a designated
  complement per item, so that carting an item often brings its complement into the
  same session's cart and checkout;
- timestamps over the last `days` days before `end`, with a daily cycle.

Catalog attributes are drawn with numpy; sessions use one seeded `random.Random`
(cheap per-draw cost for small draws, ~1 us per event).
"""

from __future__ import annotations

import bisect
import csv
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

import numpy as np

from ml.taxonomy import COMPLEMENTS, TAXONOMY

SOURCE = "synthetic"
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Share of sessions per hour of day (UTC), low at night, peaks at noon and evening.
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 8, 7, 6, 6, 6, 7, 8, 9, 10, 9, 6, 3)


@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 42
    n_products: int = 5000
    n_users: int = 5000
    days: int = 60
    end: datetime | None = None  # default: today 00:00 UTC

    def end_ts(self) -> datetime:
        if self.end is not None:
            return self.end if self.end.tzinfo else self.end.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        return now.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Product:
    product_id: str
    name: str
    main_category: str
    sub_category: str
    image: str
    link: str
    rating: float | None
    no_of_ratings: int | None
    price: float
    actual_price: float
    discount_ratio: float
    in_stock: bool
    complement: str | None = None  # designated complement product id


@dataclass
class SyntheticData:
    config: SyntheticConfig
    products: list[Product]
    users: list[str]
    # events sorted by ts; parallel columns
    event_ids: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    product_ids: list[str | None] = field(default_factory=list)
    queries: list[str | None] = field(default_factory=list)
    ts_ms: list[int] = field(default_factory=list)  # epoch milliseconds
    sessions: list[int] = field(default_factory=list)

    @property
    def n_events(self) -> int:
        return len(self.event_ids)

    def timestamps(self) -> list[datetime]:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return [epoch + timedelta(milliseconds=t) for t in self.ts_ms]

    def event_records(self) -> list[tuple]:
        """(event_id, user_id, event_type, product_id, query, ts) for COPY."""
        return list(
            zip(
                self.event_ids,
                self.user_ids,
                self.event_types,
                self.product_ids,
                self.queries,
                self.timestamps(),
                strict=True,
            )
        )


def product_id_for(index: int) -> str:
    """`S` + 9 base36 chars: 10 chars [A-Z0-9], distinct from real ASINs (`B0...`)."""
    digits = []
    n = index
    for _ in range(9):
        n, r = divmod(n, 36)
        digits.append(_B36[r])
    return "S" + "".join(reversed(digits))


def user_id_for(index: int) -> str:
    return f"u{index + 1:06d}"


def _title(words: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in words.split())


def _round_price(x: np.ndarray) -> np.ndarray:
    """Shop-style prices ending in 9 (e.g. 1,499)."""
    return np.maximum(np.round(x / 10.0) * 10.0 - 1.0, 9.0)


def _generate_products(cfg: SyntheticConfig, rng: np.random.Generator):
    subs = [(m, s) for m in TAXONOMY for s in m.subs]
    n_subs = len(subs)
    base = min(2, cfg.n_products // n_subs)
    weights = rng.dirichlet(np.full(n_subs, 4.0))
    counts = rng.multinomial(cfg.n_products - base * n_subs, weights) + base
    sub_of = np.repeat(np.arange(n_subs), counts)
    n = len(sub_of)

    lo = np.array([s.price[0] for _, s in subs])[sub_of]
    hi = np.array([s.price[1] for _, s in subs])[sub_of]
    actual = _round_price(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    has_discount = rng.random(n) < 0.65
    disc = np.where(has_discount, rng.uniform(0.05, 0.6, n), 0.0)
    price = np.where(has_discount, np.maximum(np.round(actual * (1 - disc)), 1.0), actual)
    ratio = np.clip(1.0 - price / actual, 0.0, 1.0)
    rating = np.clip(np.round(rng.normal(4.0, 0.45, n), 1), 1.0, 5.0)
    unrated = rng.random(n) < 0.04
    in_stock = rng.random(n) >= 0.03

    # Zipf popularity within each sub-category: a random permutation gives ranks.
    pop = np.empty(n)
    start = 0
    for c in counts:
        ranks = rng.permutation(c)
        pop[start : start + c] = 1.0 / (ranks + 1.0) ** 1.1
        start += c
    n_ratings = np.round(np.exp(rng.normal(3.5, 1.2, n)) * (1 + 200 * pop)).astype(np.int64)

    word_draws = rng.random((n, 5))
    products: list[Product] = []
    for i in range(n):
        main, sub = subs[sub_of[i]]
        u = word_draws[i]
        brand = main.brands[int(u[0] * len(main.brands))]
        adj = main.adjectives[int(u[1] * len(main.adjectives))]
        noun = _title(sub.nouns[int(u[2] * len(sub.nouns))])
        variants = sub.variants + main.variants
        variant = variants[int(u[3] * len(variants))]
        model = f"{_B36[10 + int(u[4] * 26)]}{int(u[4] * 1000) % 90 + 10}"
        pid = product_id_for(i)
        products.append(
            Product(
                product_id=pid,
                name=f"{brand} {adj} {noun} {model} ({variant})",
                main_category=main.name,
                sub_category=sub.name,
                image=f"https://images.recsys.example/{pid}.jpg",
                link=f"https://shop.recsys.example/dp/{pid}/",
                rating=None if unrated[i] else float(rating[i]),
                no_of_ratings=None if unrated[i] else int(n_ratings[i]),
                price=float(price[i]),
                actual_price=float(actual[i]),
                discount_ratio=round(float(ratio[i]), 4),
                in_stock=bool(in_stock[i]),
            )
        )
    return products, subs, counts, pop


class _Picker:
    """Weighted choice by bisect over cumulative weights (O(log n) per draw)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, items: list, weights) -> None:
        self.items = items
        self.cum = list(accumulate(float(w) for w in weights))
        self.total = self.cum[-1] if self.cum else 0.0

    def pick(self, r: random.Random):
        return self.items[bisect.bisect_right(self.cum, r.random() * self.total)]


def generate(cfg: SyntheticConfig | None = None) -> SyntheticData:
    cfg = cfg or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    rand = random.Random(cfg.seed)
    products, subs, counts, pop = _generate_products(cfg, rng)

    # item pickers per sub-category (popularity-weighted) and per main category
    sub_index = {s.name: k for k, (_, s) in enumerate(subs)}
    by_sub: list[_Picker] = []
    start = 0
    for c in counts:
        by_sub.append(_Picker(list(range(start, start + c)), pop[start : start + c]))
        start += c
    sub_pickers_by_main = []
    for m in TAXONOMY:
        ks = [sub_index[s.name] for s in m.subs]
        sub_pickers_by_main.append(_Picker(ks, [counts[k] for k in ks]))

    # designated complements: a popular item of a complementary sub-category
    complement_subs: list[list[int]] = [
        [sub_index[c] for c in COMPLEMENTS.get(s.name, ()) if counts[sub_index[c]] > 0]
        for _, s in subs
    ]
    sub_of_item = np.repeat(np.arange(len(subs)), counts)
    for i, p in enumerate(products):
        cands = complement_subs[sub_of_item[i]]
        if cands:
            p.complement = products[by_sub[cands[rand.randrange(len(cands))]].pick(rand)].product_id
    complement_idx = {i: int(p.complement[1:], 36) for i, p in enumerate(products) if p.complement}

    # users: preferred main categories and power-law activity
    n_main = len(TAXONOMY)
    users = [user_id_for(u) for u in range(cfg.n_users)]
    k_pref = rng.choice([1, 2, 3], size=cfg.n_users, p=[0.35, 0.45, 0.2])
    n_sessions = np.minimum(1 + np.floor(rng.pareto(1.6, cfg.n_users) * 10.0), 300).astype(int)
    prefs: list[_Picker] = []
    for u in range(cfg.n_users):
        mains = rng.choice(n_main, size=k_pref[u], replace=False)
        prefs.append(_Picker(list(mains), rng.dirichlet(np.full(k_pref[u], 1.5))))

    end_s = int(cfg.end_ts().timestamp())
    start_s = end_s - cfg.days * 86400
    ctx = _Ctx(
        rand=rand,
        raw=[],
        sub_pickers_by_main=sub_pickers_by_main,
        by_sub=by_sub,
        sub_queries=[_queries(m, s) for m, s in subs],
        complement_idx=complement_idx,
        complement_subs=complement_subs,
        sub_of_item=sub_of_item,
        n_main=n_main,
    )
    hours = _Picker(list(range(24)), _HOUR_WEIGHTS)
    session_no = 0
    for u in range(cfg.n_users):
        for _ in range(n_sessions[u]):
            session_no += 1
            t = (
                start_s
                + rand.randrange(cfg.days) * 86400
                + hours.pick(rand) * 3600
                + rand.randrange(3600)
            )
            t = min(t, end_s - 7200) * 1000  # the whole session lies before `end`
            _session(ctx, users[u], session_no, t, prefs[u])

    raw = ctx.raw
    raw.sort(key=lambda e: (e[0], e[1], e[2]))
    pids = [p.product_id for p in products]
    data = SyntheticData(config=cfg, products=products, users=users)
    data.event_ids = [f"syn-{n:08d}" for n in range(1, len(raw) + 1)]
    data.ts_ms = [e[0] for e in raw]
    data.sessions = [e[1] for e in raw]
    data.user_ids = [e[3] for e in raw]
    data.event_types = [e[4] for e in raw]
    data.product_ids = [None if e[5] is None else pids[e[5]] for e in raw]
    data.queries = [e[6] for e in raw]
    return data


def _queries(main, sub) -> list[str]:
    """What people type for a sub-category: its nouns, some with an adjective or brand."""
    out = list(sub.nouns)
    out += [f"{a.lower()} {sub.nouns[0]}" for a in main.adjectives[:2]]
    out += [f"{b.lower()} {sub.nouns[-1]}" for b in main.brands[:2]]
    return out


@dataclass
class _Ctx:
    rand: random.Random
    raw: list  # (ts_ms, session, seq, user_id, event_type, item index | None, query | None)
    sub_pickers_by_main: list[_Picker]
    by_sub: list[_Picker]
    sub_queries: list[list[str]]
    complement_idx: dict[int, int]
    complement_subs: list[list[int]]
    sub_of_item: np.ndarray
    n_main: int


def _session(ctx: _Ctx, uid: str, session: int, t: int, pref: _Picker) -> None:
    r = ctx.rand
    raw = ctx.raw
    seq = 0

    def emit(etype: str, item: int | None = None, query: str | None = None) -> None:
        nonlocal t, seq
        raw.append((t, session, seq, uid, etype, item, query))
        seq += 1
        t += 5000 + int(r.expovariate(1 / 40.0) * 1000)  # 5 s + ~40 s think time

    main = pref.pick(r) if r.random() < 0.85 else r.randrange(ctx.n_main)
    sub = ctx.sub_pickers_by_main[main].pick(r)
    if r.random() < 0.3:
        qs = ctx.sub_queries[sub]
        emit("search", query=qs[r.randrange(len(qs))])
    n_views = 1
    while n_views < 8 and r.random() < 0.55:
        n_views += 1

    seen: set[int] = set()
    cart: list[int] = []

    def browse(item: int, p_click: float, p_cart: float, follow: bool) -> None:
        seen.add(item)
        emit("view", item)
        if r.random() >= p_click:
            return
        emit("click", item)
        if r.random() < 0.06:
            emit("wishlist", item)
        if r.random() >= p_cart:
            return
        emit("add_to_cart", item)
        cart.append(item)
        if not follow or r.random() >= 0.55:
            return
        # co-purchase: the item's designated complement, else a popular complement
        comp = ctx.complement_idx.get(item)
        cands = ctx.complement_subs[ctx.sub_of_item[item]]
        if comp is None or (cands and r.random() < 0.25):
            if not cands:
                return
            comp = ctx.by_sub[cands[r.randrange(len(cands))]].pick(r)
        if comp not in seen:
            browse(comp, 0.7, 0.75, follow=False)

    for _ in range(n_views):
        item = ctx.by_sub[sub].pick(r)
        if item not in seen:
            browse(item, 0.4, 0.35, follow=True)

    if not cart:
        return
    kept = []
    for item in cart:
        if r.random() < 0.12:
            emit("remove_from_cart", item)
        else:
            kept.append(item)
    if kept and r.random() < 0.6:  # checkout
        for item in kept:
            if r.random() < 0.92:
                emit("purchase", item)


def write_csv(data: SyntheticData, out: Path) -> list[Path]:
    """products.csv and events.csv (plus users.csv) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "products.csv", out / "events.csv", out / "users.csv"]
    fields = list(Product.__dataclass_fields__)
    with open(paths[0], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        w.writerows([getattr(p, f) for f in fields] for p in data.products)
    with open(paths[1], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["event_id", "user_id", "event_type", "product_id", "query", "ts", "session"])
        ts = (t.isoformat() for t in data.timestamps())
        w.writerows(
            zip(
                data.event_ids,
                data.user_ids,
                data.event_types,
                data.product_ids,
                data.queries,
                ts,
                data.sessions,
                strict=False,
            )
        )
    with open(paths[2], "w", newline="") as fh:
        fh.write("user_id\n" + "\n".join(data.users) + "\n")
    return paths
