"""Candidate sources over the learned models (`Learned`): vector search only.

- als: the user's ALS factor (known user) or the fold-in of their recent items;
  `als_similar`: cosine of item factors to the anchors ("also liked").
- two_tower: the user tower (user id, recent items, category shares of the recent
  items) against the item tower's vectors.
- semantic: MiniLM embeddings: similar to the anchors (the product, the cart, the
  user's recent items) or to the query (semantic search).
Scores are the raw similarity divided by the best of the answer (kept in [0, 1]).
A source whose model is not loaded returns no hits.
"""

from __future__ import annotations

import numpy as np

from services.candidate_gen.indexes import Indexes
from services.candidate_gen.learned import Learned
from services.candidate_gen.sources import Hits
from services.common.contracts import CandidateSource, UserFeatures

MAX_HISTORY = 20


def _hits(source: CandidateSource, idx: np.ndarray, score: np.ndarray, anchor=None) -> Hits:
    keep = score > 0
    idx, score = idx[keep], score[keep]
    if len(idx) == 0:
        return Hits.empty(source)
    anchors = None if anchor is None else anchor[keep]
    return Hits(source, idx, np.clip(score / score[0], 0.0, 1.0), anchors)


def _similar(
    ix: Indexes,
    learned: Learned,
    view_name: str,
    model: str,
    variant: str | None,
    anchors: np.ndarray,
    k: int,
    exclude: np.ndarray,
    source: CandidateSource,
    vectors: np.ndarray,
) -> Hits:
    """Items nearest to any anchor; the anchor of each hit is its nearest anchor."""
    view = learned.views.get((learned.alias_of(model, variant), view_name))
    if view is None or len(anchors) == 0:
        return Hits.empty(source)
    rows = view.from_catalog[anchors]
    anchors = anchors[rows >= 0]
    if len(anchors) == 0:
        return Hits.empty(source)
    queries = vectors[rows[rows >= 0]]
    idx, score = view.nearest(ix, queries, k, np.union1d(exclude, anchors))
    if len(idx) == 0:
        return Hits.empty(source)
    # nearest anchor per hit: one small (hits x anchors) product
    hit_vectors = vectors[view.from_catalog[idx]]
    owner = anchors[np.argmax(hit_vectors @ queries.T, axis=1)]
    return _hits(source, idx, score, ix.product_ids[owner])


def als_user(
    ix: Indexes, learned: Learned, variant: str | None, user: UserFeatures, k: int, exclude
) -> Hits:
    loaded = learned.pick(variant).get("als")
    view = learned.view("als", variant)
    if loaded is None or view is None:
        return Hits.empty(CandidateSource.als)
    recent = view.rows(ix.indices(user.recent_items[:MAX_HISTORY]))
    vector = loaded.bundle.user_vector(user.user_id, recent)
    if vector is None:
        return Hits.empty(CandidateSource.als)
    idx, score = view.nearest(ix, vector[None, :], k, exclude)
    return _hits(CandidateSource.als, idx, score)


def als_similar(
    ix: Indexes, learned: Learned, variant: str | None, anchors: np.ndarray, k: int, exclude
) -> Hits:
    loaded = learned.pick(variant).get("als")
    if loaded is None:
        return Hits.empty(CandidateSource.als)
    vectors = loaded.indexes["als_similar"][1].vectors
    return _similar(
        ix, learned, "als_similar", "als", variant, anchors, k, exclude,
        CandidateSource.als, vectors,
    )  # fmt: skip


def two_tower_user(
    ix: Indexes, learned: Learned, variant: str | None, user: UserFeatures, k: int, exclude
) -> Hits:
    loaded = learned.pick(variant).get("two_tower")
    view = learned.view("two_tower", variant)
    if loaded is None or view is None:
        return Hits.empty(CandidateSource.two_tower)
    recent_idx = ix.indices(user.recent_items[:MAX_HISTORY])
    # The tower was trained on sub-category shares of the user's history; the
    # recent items' sub-categories approximate them (most recent weigh most).
    weights = 1.0 / (1.0 + np.arange(len(recent_idx)))
    shares: dict[str, float] = {}
    for cat, w in zip(ix.sub_category[recent_idx].tolist(), weights.tolist(), strict=True):
        shares[cat] = shares.get(cat, 0.0) + w
    vector = loaded.bundle.user_vectors(
        [user.user_id], [ix.product_ids[recent_idx].tolist()], [shares]
    )
    idx, score = view.nearest(ix, vector, k, exclude)
    return _hits(CandidateSource.two_tower, idx, score)


def _content_vectors(learned: Learned, variant: str | None):
    loaded = learned.pick(variant).get("content_embeddings")
    return None if loaded is None else loaded.bundle.item_vectors


def semantic_similar(
    ix: Indexes, learned: Learned, variant: str | None, anchors: np.ndarray, k: int, exclude
) -> Hits:
    vectors = _content_vectors(learned, variant)
    if vectors is None:
        return Hits.empty(CandidateSource.semantic)
    return _similar(
        ix, learned, "content_embeddings", "content_embeddings", variant, anchors, k, exclude,
        CandidateSource.semantic, vectors,
    )  # fmt: skip


def semantic_search(
    ix: Indexes,
    learned: Learned,
    variant: str | None,
    query: str,
    query_vector: np.ndarray | None,
    k: int,
    exclude: np.ndarray,
    min_similarity: float,
) -> Hits:
    view = learned.view("content_embeddings", variant)
    if view is None or query_vector is None:
        return Hits.empty(CandidateSource.semantic)
    idx, score = view.nearest(ix, query_vector[None, :], k, exclude)
    keep = score >= min_similarity
    idx, score = idx[keep], score[keep]
    if len(idx) == 0:
        return Hits.empty(CandidateSource.semantic)
    # Cosine itself (not / best): a weak best match must not look like a perfect one.
    anchors = np.full(len(idx), query, dtype=object)
    return Hits(CandidateSource.semantic, idx, np.clip(score, 0.0, 1.0), anchors)


def expansion(learned: Learned, variant: str | None, query: str, query_vector) -> list[str]:
    loaded = learned.pick(variant).get("content_embeddings")
    if loaded is None or query_vector is None:
        return []
    return list(loaded.bundle.expand(query, query_vector))
