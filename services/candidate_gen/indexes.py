"""Immutable retrieval indexes built from the catalog and recent interactions.

Everything per-item is a numpy array aligned with `product_ids`, so the request
path works with vector ops only. An `Indexes` object is never mutated after it is
built; a refresh builds a new one and swaps the reference (see `store.py`).

Definitions (one place, the tests compute them by hand):
- popularity: sum over users of the decayed, weighted interactions (signals.py),
  clipped at 0; the `popular` source orders in-stock items by it (ties: quality).
- Bayesian rating: (n * r + C * m) / (n + C), m = mean rating of rated items,
  C = `bayes_prior_count`; unrated items get m.
- quality (top_category): bayes / 5 * log2(2 + no_of_ratings + popularity).
- best value: discount_ratio * bayes / 5.
- content: TF-IDF (word 1-2 grams, sublinear tf, English stop words) on
  name + sub_category, rows L2-normalised, cosine = sparse dot product.
- association rules (services/common/models/rules.py) over the positive-weight pairs
  of the last `interaction_days`; served until the registry's `association_rules`
  model is loaded, and whenever it is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from services.common.models.rules import RuleParams, Rules, mine_rules

TOKEN_PATTERN = r"(?u)\b[a-z0-9]+\b"
DEFAULT_MEAN_RATING = 3.5


@dataclass(frozen=True)
class Catalog:
    """Column arrays of the products table (one row per product)."""

    product_ids: list[str]
    names: list[str]
    main_categories: list[str]
    sub_categories: list[str]
    rating: np.ndarray  # float, NaN when unknown
    no_of_ratings: np.ndarray  # float, 0 when unknown
    discount_ratio: np.ndarray  # float, NaN when unknown
    in_stock: np.ndarray  # bool
    price: np.ndarray | None = None  # float, NaN when unknown
    images: list[str | None] | None = None

    @classmethod
    def from_rows(cls, rows: list[dict]) -> Catalog:
        def col(name, default=None):
            return [r.get(name, default) for r in rows]

        def floats(name):
            return np.array([np.nan if v is None else float(v) for v in col(name)], dtype=float)

        return cls(
            product_ids=col("product_id"),
            names=[v or "" for v in col("name")],
            main_categories=[v or "" for v in col("main_category")],
            sub_categories=[v or "" for v in col("sub_category")],
            rating=floats("rating"),
            no_of_ratings=np.nan_to_num(floats("no_of_ratings"), nan=0.0),
            discount_ratio=floats("discount_ratio"),
            in_stock=np.array([v is not False for v in col("in_stock", True)], dtype=bool),
            price=floats("price"),
            images=col("image"),
        )


@dataclass(frozen=True)
class Interactions:
    """Aggregated (user, product, decayed weighted sum) triples."""

    user_ids: list[str]
    product_ids: list[str]
    weights: np.ndarray

    @classmethod
    def empty(cls) -> Interactions:
        return cls([], [], np.zeros(0))


@dataclass(frozen=True)
class IndexParams:
    assoc_min_count: int = 2
    assoc_min_confidence: float = 0.05
    assoc_min_lift: float = 1.0
    assoc_top_n: int = 50
    bayes_prior_count: float = 25.0
    top_category_size: int = 100


@dataclass(frozen=True)
class Ranked:
    """Item indices in descending score order, with scores in [0, 1]."""

    idx: np.ndarray
    score: np.ndarray


QUERY_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Indexes:
    product_ids: np.ndarray
    index_of: dict[str, int]
    names: np.ndarray
    main_category: np.ndarray
    sub_category: np.ndarray
    main_code: np.ndarray
    sub_code: np.ndarray
    main_names: list[str]
    sub_names: list[str]
    in_stock: np.ndarray
    discount_ratio: np.ndarray
    price: np.ndarray
    images: np.ndarray
    popularity: np.ndarray
    bayes_rating: np.ndarray
    quality: np.ndarray
    popular: Ranked
    best_value: Ranked
    top_by_sub: dict[str, Ranked]
    top_by_main: dict[str, Ranked]
    main_by_popularity: list[str]
    text_vectorizer: TfidfVectorizer | None
    item_matrix: sp.csr_matrix
    # Terms x items, CSR: `anchors @ item_matrix_t` without a per-request transpose
    # (at 1M items the conversion was three quarters of the content source's time).
    item_matrix_t: sp.csr_matrix
    category_vectorizer: CountVectorizer | None
    category_matrix: sp.csr_matrix
    rules: Rules
    built_at: datetime
    model_versions: dict[str, str] = field(default_factory=dict)
    # Vectorising a query with scikit-learn costs more than scoring it; users repeat
    # their queries across requests (home replays recent searches), so keep them.
    _query_cache: dict[str, tuple] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_items(self) -> int:
        return len(self.product_ids)

    def query_vectors(self, text: str) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        """(TF-IDF vector, category-term vector) of a query text, memoised."""
        hit = self._query_cache.get(text)
        if hit is None:
            if len(self._query_cache) >= QUERY_CACHE_SIZE:
                self._query_cache.clear()
            cats = self.category_vectorizer
            hit = (
                self.text_vectorizer.transform([text]),
                cats.transform([text]) if cats is not None else None,
            )
            self._query_cache[text] = hit
        return hit

    def indices(self, product_ids: list[str]) -> np.ndarray:
        """Known ids -> item indices (unknown ids are skipped), order kept."""
        found = [self.index_of.get(p) for p in product_ids]
        return np.array([i for i in found if i is not None], dtype=np.int64)


# --------------------------------------------------------------------------- build


def build_indexes(
    catalog: Catalog,
    interactions: Interactions,
    params: IndexParams | None = None,
    *,
    now: datetime | None = None,
) -> Indexes:
    params = params or IndexParams()
    built_at = now or datetime.now(UTC)
    n = len(catalog.product_ids)
    product_ids = np.array(catalog.product_ids, dtype=object)
    index_of = {p: i for i, p in enumerate(catalog.product_ids)}
    main_names, main_code = _codes(catalog.main_categories)
    sub_names, sub_code = _codes(catalog.sub_categories)
    in_stock = np.asarray(catalog.in_stock, dtype=bool)

    item_idx, user_idx, weights, n_users = _encode_interactions(interactions, index_of)
    popularity = np.zeros(n)
    np.add.at(popularity, item_idx, weights)
    popularity = np.clip(popularity, 0.0, None)

    bayes = bayesian_rating(catalog.rating, catalog.no_of_ratings, params.bayes_prior_count)
    quality = bayes / 5.0 * np.log2(2.0 + catalog.no_of_ratings + popularity)

    popular = _popular(popularity, quality, in_stock)
    discount = np.nan_to_num(np.asarray(catalog.discount_ratio, dtype=float), nan=0.0)
    best_value = _ranked(discount * bayes / 5.0, in_stock)
    top_by_sub = _top_per_group(sub_code, sub_names, quality, in_stock, params.top_category_size)
    top_by_main = _top_per_group(main_code, main_names, quality, in_stock, params.top_category_size)
    main_pop = np.zeros(len(main_names))
    np.add.at(main_pop, main_code, popularity + 1e-9 * quality)
    main_by_popularity = [main_names[i] for i in np.argsort(-main_pop, kind="stable")]

    texts = [f"{nm} {sc}" for nm, sc in zip(catalog.names, catalog.sub_categories, strict=True)]
    text_vectorizer, item_matrix = _tfidf(texts)
    cats = [
        f"{m} {s}" for m, s in zip(catalog.main_categories, catalog.sub_categories, strict=True)
    ]
    category_vectorizer, category_matrix = _binary_terms(cats)

    positive = weights > 0
    rule_params = RuleParams(
        params.assoc_min_count, params.assoc_min_confidence, params.assoc_min_lift,
        params.assoc_top_n,
    )  # fmt: skip
    rules = mine_rules(
        user_idx[positive], item_idx[positive], n_users, n, rule_params, item_ids=product_ids
    )

    stamp = built_at.strftime("%Y%m%dT%H%M%SZ")
    versions = {"content": f"tfidf-{n}-{stamp}", "association": f"rules-{rules.n_rules}-{stamp}"}
    return Indexes(
        product_ids=product_ids,
        index_of=index_of,
        names=np.array(catalog.names, dtype=object),
        main_category=np.array(catalog.main_categories, dtype=object),
        sub_category=np.array(catalog.sub_categories, dtype=object),
        main_code=main_code,
        sub_code=sub_code,
        main_names=main_names,
        sub_names=sub_names,
        in_stock=in_stock,
        discount_ratio=discount,
        price=np.full(n, np.nan) if catalog.price is None else np.asarray(catalog.price),
        images=np.array(catalog.images or [None] * n, dtype=object),
        popularity=popularity,
        bayes_rating=bayes,
        quality=quality,
        popular=popular,
        best_value=best_value,
        top_by_sub=top_by_sub,
        top_by_main=top_by_main,
        main_by_popularity=main_by_popularity,
        text_vectorizer=text_vectorizer,
        item_matrix=item_matrix,
        item_matrix_t=item_matrix.T.tocsr(),
        category_vectorizer=category_vectorizer,
        category_matrix=category_matrix,
        rules=rules,
        built_at=built_at,
        model_versions=versions,
    )


def bayesian_rating(rating: np.ndarray, count: np.ndarray, prior: float) -> np.ndarray:
    rating = np.asarray(rating, dtype=float)
    count = np.where(np.isnan(rating), 0.0, np.asarray(count, dtype=float))
    rated = count > 0
    mean = float(np.average(rating[rated], weights=count[rated])) if rated.any() else None
    if mean is None:
        rated_any = ~np.isnan(rating)
        mean = float(rating[rated_any].mean()) if rated_any.any() else DEFAULT_MEAN_RATING
    r = np.nan_to_num(rating, nan=mean)
    return (count * r + prior * mean) / (count + prior)


# --------------------------------------------------------------------------- helpers


def _codes(values: list[str]) -> tuple[list[str], np.ndarray]:
    names, codes = np.unique(np.array(values, dtype=object).astype(str), return_inverse=True)
    return [str(v) for v in names], codes.astype(np.int64).ravel()


def _encode_interactions(
    interactions: Interactions, index_of: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    items = np.array([index_of.get(p, -1) for p in interactions.product_ids], dtype=np.int64)
    known = items >= 0
    users = np.array(interactions.user_ids, dtype=object)[known].astype(str)
    user_idx = np.unique(users, return_inverse=True)[1] if len(users) else np.zeros(0)
    user_idx = np.asarray(user_idx, dtype=np.int64).ravel()
    n_users = int(user_idx.max()) + 1 if len(user_idx) else 0
    weights = np.asarray(interactions.weights, dtype=float)[known]
    return items[known], user_idx, weights, n_users


def _ranked(score: np.ndarray, mask: np.ndarray) -> Ranked:
    idx = np.flatnonzero(mask & (score > 0))
    idx = idx[np.argsort(-score[idx], kind="stable")]
    top = score[idx[0]] if len(idx) else 1.0
    return Ranked(idx, score[idx] / top)


def _popular(popularity: np.ndarray, quality: np.ndarray, in_stock: np.ndarray) -> Ranked:
    idx = np.flatnonzero(in_stock)
    idx = idx[np.lexsort((-quality[idx], -popularity[idx]))]
    if len(idx) and popularity[idx[0]] > 0:
        score = popularity[idx] / popularity[idx[0]]
    else:  # no interactions yet: order and score by quality
        top = quality[idx].max() if len(idx) else 0.0
        score = quality[idx] / top if top > 0 else np.zeros(len(idx))
    return Ranked(idx, score)


def _top_per_group(
    codes: np.ndarray, names: list[str], quality: np.ndarray, mask: np.ndarray, size: int
) -> dict[str, Ranked]:
    idx = np.flatnonzero(mask)
    idx = idx[np.lexsort((-quality[idx], codes[idx]))]
    bounds = np.searchsorted(codes[idx], np.arange(len(names) + 1))
    out: dict[str, Ranked] = {}
    for code, name in enumerate(names):  # build time, once per category
        group = idx[bounds[code] : bounds[code + 1]][:size]
        if len(group):
            top = quality[group[0]]
            out[name] = Ranked(group, quality[group] / top if top > 0 else np.zeros(len(group)))
    return out


def _tfidf(texts: list[str]) -> tuple[TfidfVectorizer | None, sp.csr_matrix]:
    vec = TfidfVectorizer(
        ngram_range=(1, 2),
        sublinear_tf=True,
        stop_words="english",
        token_pattern=TOKEN_PATTERN,
        lowercase=True,
        dtype=np.float32,
    )
    try:
        return vec, sp.csr_matrix(vec.fit_transform(texts))
    except ValueError:  # empty catalog or only stop words
        return None, sp.csr_matrix((len(texts), 0), dtype=np.float32)


def _binary_terms(texts: list[str]) -> tuple[CountVectorizer | None, sp.csr_matrix]:
    vec = CountVectorizer(
        binary=True, stop_words="english", token_pattern=TOKEN_PATTERN, dtype=np.float32
    )
    try:
        return vec, sp.csr_matrix(vec.fit_transform(texts))
    except ValueError:
        return None, sp.csr_matrix((len(texts), 0), dtype=np.float32)
