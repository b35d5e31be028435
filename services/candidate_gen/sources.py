"""Candidate sources over an `Indexes` object: vector ops only, no catalog loops.

Each source returns `Hits`: item indices best-first with scores in [0, 1]
(normalised within the source) and, where meaningful, the anchor they came from.
Scores: cosine similarity for content; 0.8 * cosine + 0.2 * category-word match for
search; score / best score of the request for association (lift * confidence);
the precomputed normalised scores for popular, best_value and top_category;
trending score / max. Out-of-stock items and `exclude` items never appear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.candidate_gen.indexes import Indexes, Ranked
from services.candidate_gen.text import expand_query
from services.common.contracts import CandidateSource
from services.common.models.rules import Rules

SEARCH_TEXT_WEIGHT = 0.8
SEARCH_CATEGORY_WEIGHT = 0.2
_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=float)


@dataclass(frozen=True)
class Hits:
    source: CandidateSource
    idx: np.ndarray
    score: np.ndarray
    anchor: np.ndarray | None = None  # object array aligned with idx

    def __len__(self) -> int:
        return len(self.idx)

    def head(self, n: int) -> Hits:
        anchor = None if self.anchor is None else self.anchor[:n]
        return Hits(self.source, self.idx[:n], self.score[:n], anchor)

    @classmethod
    def empty(cls, source: CandidateSource) -> Hits:
        return cls(source, _EMPTY_I, _EMPTY_F)


@dataclass(frozen=True)
class TrendingSnapshot:
    """Trending items (best first, scores / max) and main categories, from Redis."""

    items: Ranked
    categories: list[str]

    @classmethod
    def build(
        cls, ix: Indexes, item_scores: dict[str, float], category_scores: dict[str, float]
    ) -> TrendingSnapshot:
        # Runs once per cache period, over recently active items only.
        pairs = [(ix.index_of.get(p), s) for p, s in item_scores.items() if s > 0]
        idx = np.array([i for i, _ in pairs if i is not None], dtype=np.int64)
        score = np.array([s for i, s in pairs if i is not None], dtype=float)
        idx, score = idx[ix.in_stock[idx]], score[ix.in_stock[idx]]
        order = np.lexsort((idx, -score))
        idx, score = idx[order], score[order]
        if len(score):
            score = score / score[0]
        cats = sorted((c for c, s in category_scores.items() if s > 0), key=category_scores.get)
        return cls(Ranked(idx, score), cats[::-1])

    @classmethod
    def empty(cls) -> TrendingSnapshot:
        return cls(Ranked(_EMPTY_I, _EMPTY_F), [])


# --------------------------------------------------------------------------- helpers


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest positive scores, best first (ties: lower index)."""
    cand = np.flatnonzero(scores > 0)
    if len(cand) > k:
        cand = cand[np.argpartition(-scores[cand], k - 1)[:k]]
    return cand[np.lexsort((cand, -scores[cand]))]


def _from_ranked(
    source: CandidateSource,
    ranked: Ranked,
    k: int,
    exclude: np.ndarray,
    anchor: str | None = None,
) -> Hits:
    """The first k of a precomputed order, skipping excluded items."""
    idx, score = ranked.idx[: k + len(exclude)], ranked.score[: k + len(exclude)]
    if len(exclude):
        keep = ~np.isin(idx, exclude)
        idx, score = idx[keep], score[keep]
    idx, score = idx[:k], score[:k]
    anchors = None if anchor is None else np.full(len(idx), anchor, dtype=object)
    return Hits(source, idx, score, anchors)


def _mask_dense(ix: Indexes, scores: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    scores = np.where(ix.in_stock, scores, 0.0)
    if len(exclude):
        scores[exclude] = 0.0
    return scores


# --------------------------------------------------------------------------- sources


def popular(
    ix: Indexes, k: int, exclude: np.ndarray = _EMPTY_I, main_categories: list[str] | None = None
) -> Hits:
    """Most popular in-stock items, optionally only in some main categories."""
    ranked = ix.popular
    if main_categories is not None:
        codes = [i for i, name in enumerate(ix.main_names) if name in set(main_categories)]
        keep = np.isin(ix.main_code[ranked.idx], codes)
        ranked = Ranked(ranked.idx[keep], ranked.score[keep])
    return _from_ranked(CandidateSource.popular, ranked, k, exclude)


def best_value(ix: Indexes, k: int, exclude: np.ndarray = _EMPTY_I) -> Hits:
    return _from_ranked(CandidateSource.best_value, ix.best_value, k, exclude)


def top_category(
    ix: Indexes, categories: list[str], k: int, exclude: np.ndarray = _EMPTY_I, *, level: str
) -> Hits:
    """The best items of each category (`level` "sub" or "main"), k split evenly;
    the anchor is the category name."""
    table = ix.top_by_sub if level == "sub" else ix.top_by_main
    cats = [c for c in dict.fromkeys(categories) if c in table]
    if not cats or k <= 0:
        return Hits.empty(CandidateSource.top_category)
    per = max(1, -(-k // len(cats)))
    parts = [_from_ranked(CandidateSource.top_category, table[c], per, exclude, c) for c in cats]
    return _merge_best(CandidateSource.top_category, parts, k, keep_order=True)


def content(ix: Indexes, anchors: np.ndarray, k: int, exclude: np.ndarray = _EMPTY_I) -> Hits:
    """Cosine similarity to the most similar anchor (anchor = that product id)."""
    if len(anchors) == 0 or ix.item_matrix.shape[1] == 0:
        return Hits.empty(CandidateSource.content)
    sims = (ix.item_matrix[anchors] @ ix.item_matrix_t).toarray()  # (anchors, items)
    best = sims.argmax(axis=0)
    scores = _mask_dense(ix, sims.max(axis=0).astype(float), np.union1d(exclude, anchors))
    idx = top_k(scores, k)
    score = np.clip(scores[idx], 0.0, 1.0)
    return Hits(CandidateSource.content, idx, score, ix.product_ids[anchors[best[idx]]])


def association(
    ix: Indexes,
    anchors: np.ndarray,
    k: int,
    exclude: np.ndarray = _EMPTY_I,
    rules: Rules | None = None,
) -> Hits:
    """Consequents of the anchors' rules, each with its strongest anchor; scores are
    lift * confidence divided by the best in this answer. `rules`: the registry's
    (bound to this catalog) when loaded, else those mined with the indexes."""
    rules = (rules or ix.rules).matrix
    if len(anchors) == 0 or rules.nnz == 0:
        return Hits.empty(CandidateSource.association)
    starts, ends = rules.indptr[anchors], rules.indptr[anchors + 1]
    lengths = ends - starts
    if lengths.sum() == 0:
        return Hits.empty(CandidateSource.association)
    # positions of every rule of every anchor, without a Python loop over rules
    pos = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    items, scores = rules.indices[pos].astype(np.int64), rules.data[pos]
    owner = np.repeat(anchors, lengths)
    drop = np.union1d(exclude, anchors)
    keep = ~np.isin(items, drop) & ix.in_stock[items]
    items, scores, owner = items[keep], scores[keep], owner[keep]
    if len(items) == 0:
        return Hits.empty(CandidateSource.association)
    order = np.lexsort((items, -scores))
    items, scores, owner = items[order], scores[order], owner[order]
    _, first = np.unique(items, return_index=True)  # the strongest anchor per item
    first = np.sort(first)[:k]
    items, scores, owner = items[first], scores[first], owner[first]
    return Hits(CandidateSource.association, items, scores / scores[0], ix.product_ids[owner])


def search(
    ix: Indexes,
    query: str,
    k: int,
    exclude: np.ndarray = _EMPTY_I,
    extra_terms: list[str] | None = None,
) -> tuple[Hits, list[str]]:
    """Lexical match of query + expansion (synonyms, then `extra_terms`: the semantic
    neighbours of the query) in the TF-IDF space, plus category words. Returns the
    hits (anchor = the query) and the expansion terms."""
    expansion = list(dict.fromkeys([*expand_query(query), *(extra_terms or [])]))
    text = " ".join([query, *expansion])
    if ix.text_vectorizer is None or ix.n_items == 0:
        return Hits.empty(CandidateSource.search), expansion
    q, g = ix.query_vectors(text)
    scores = SEARCH_TEXT_WEIGHT * (ix.item_matrix @ q.T).toarray().ravel()
    if g is not None:
        if g.nnz:
            hits = (ix.category_matrix @ g.T).toarray().ravel() / g.nnz
            scores = scores + SEARCH_CATEGORY_WEIGHT * hits
    scores = _mask_dense(ix, scores.astype(float), exclude)
    idx = top_k(scores, k)
    anchors = np.full(len(idx), query, dtype=object)
    return Hits(CandidateSource.search, idx, np.clip(scores[idx], 0.0, 1.0), anchors), expansion


def trending(
    ix: Indexes, snapshot: TrendingSnapshot, k: int, exclude: np.ndarray = _EMPTY_I
) -> Hits:
    """Trending items; when Redis has none, the popular order (labelled popular)."""
    hits = _from_ranked(CandidateSource.trending, snapshot.items, k, exclude)
    if len(hits) == 0:
        return popular(ix, k, exclude)
    return hits


def _merge_best(
    source: CandidateSource, parts: list[Hits], k: int, *, keep_order: bool = False
) -> Hits:
    """Concatenate parts, one entry per item (its best score), best first."""
    idx = np.concatenate([p.idx for p in parts])
    score = np.concatenate([p.score for p in parts])
    anchor = np.concatenate([p.anchor for p in parts]) if parts[0].anchor is not None else None
    if len(idx) == 0:
        return Hits.empty(source)
    order = np.arange(len(idx)) if keep_order else np.lexsort((idx, -score))
    _, first = np.unique(idx[order], return_index=True)
    sel = order[np.sort(first)]
    if not keep_order:
        sel = sel[np.lexsort((idx[sel], -score[sel]))]
    sel = sel[:k]
    return Hits(source, idx[sel], score[sel], None if anchor is None else anchor[sel])


def merge_best(source: CandidateSource, parts: list[Hits], k: int) -> Hits:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Hits.empty(source)
    if any(p.anchor is None for p in parts):
        parts = [Hits(p.source, p.idx, p.score, None) for p in parts]
    return _merge_best(source, parts, k)
