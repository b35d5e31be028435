import math

import numpy as np
import pytest

from services.candidate_gen.indexes import (
    Catalog,
    IndexParams,
    Interactions,
    bayesian_rating,
    build_indexes,
)
from tests.unit.candidate_gen.conftest import PARAMS, make_catalog, make_interactions


def rule(ix, a, b):
    """(support, confidence, lift, score) of rule a -> b, or None."""
    ia, ib = ix.index_of[a], ix.index_of[b]
    r = ix.rules
    lo, hi = r.matrix.indptr[ia], r.matrix.indptr[ia + 1]
    hits = np.flatnonzero(r.matrix.indices[lo:hi] == ib)
    if not len(hits):
        return None
    j = lo + hits[0]
    return r.support[j], r.confidence[j], r.lift[j], r.matrix.data[j]


def test_association_support_confidence_lift_by_hand(ix):
    # 5 transactions (u6 only has a negative interaction); A1 and A2 in u1, u2, u3.
    assert ix.rules.n_users == 5
    support, confidence, lift, score = rule(ix, "P0000000A1", "P0000000A2")
    assert support == pytest.approx(3 / 5)
    assert confidence == pytest.approx(3 / 3)
    assert lift == pytest.approx(1 / (3 / 5))
    assert score == pytest.approx(lift * confidence)
    # A3 -> A4: together in u4 only; A3 in 2 baskets, A4 in 2
    support, confidence, lift, _ = rule(ix, "P0000000A3", "P0000000A4")
    assert (support, confidence, lift) == pytest.approx((1 / 5, 1 / 2, (1 / 2) / (2 / 5)))


def test_rules_below_min_lift_are_dropped(ix):
    # confidence(A1 -> A3) = 1/3, lift = (1/3) / (2/5) = 0.83 < 1
    assert rule(ix, "P0000000A1", "P0000000A3") is None
    # A5 is only ever alone: no rules
    assert (
        ix.rules.matrix.indptr[ix.index_of["P0000000A5"] + 1]
        == ix.rules.matrix.indptr[ix.index_of["P0000000A5"]]
    )


def test_rule_thresholds_and_top_n():
    strict = IndexParams(assoc_min_count=2, assoc_min_confidence=0.0, assoc_min_lift=0.0)
    ix = build_indexes(make_catalog(), make_interactions(), strict)
    pairs = {
        (ix.product_ids[a], ix.product_ids[b])
        for a in range(ix.n_items)
        for b in ix.rules.matrix.indices[ix.rules.matrix.indptr[a] : ix.rules.matrix.indptr[a + 1]]
    }
    assert pairs == {("P0000000A1", "P0000000A2"), ("P0000000A2", "P0000000A1")}
    top1 = IndexParams(
        assoc_min_count=1, assoc_min_confidence=0.0, assoc_min_lift=0.0, assoc_top_n=1
    )
    ix = build_indexes(make_catalog(), make_interactions(), top1)
    row_sizes = np.diff(ix.rules.matrix.indptr)
    assert row_sizes.max() == 1
    # A1's single kept consequent is its strongest: A2 (lift*conf 5/3 vs 5/9 for A3, A4)
    a1 = ix.index_of["P0000000A1"]
    assert ix.product_ids[ix.rules.matrix.indices[ix.rules.matrix.indptr[a1]]] == "P0000000A2"


def test_bayesian_rating_by_hand():
    rating = np.array([5.0, 3.0, np.nan])
    count = np.array([10.0, 30.0, 0.0])
    mean = (5 * 10 + 3 * 30) / 40
    out = bayesian_rating(rating, count, prior=10.0)
    assert out[0] == pytest.approx((10 * 5 + 10 * mean) / 20)
    assert out[1] == pytest.approx((30 * 3 + 10 * mean) / 40)
    assert out[2] == pytest.approx(mean)  # unrated: the prior mean


def test_popularity_and_orders(ix):
    # each of A1, A2 has 3 users of weight 1; the negative-only A6 is clipped to 0
    assert ix.popularity[ix.index_of["P0000000A1"]] == pytest.approx(3.0)
    assert ix.popularity[ix.index_of["P0000000A6"]] == 0.0
    popular = list(ix.product_ids[ix.popular.idx])
    assert set(popular[:2]) == {"P0000000A1", "P0000000A2"}
    assert "P0000000A8" not in popular  # out of stock
    assert ix.popular.score[0] == 1.0 and (np.diff(ix.popular.score) <= 0).all()
    best = list(ix.product_ids[ix.best_value.idx])
    assert best[0] == "P0000000A4"  # 60% off with a decent rating
    assert "P0000000A7" not in best  # no discount known


def test_top_category_quality(ix):
    headphones = list(ix.product_ids[ix.top_by_sub["Headphones"].idx])
    assert headphones == ["P0000000A1", "P0000000A2"]  # A8 out of stock
    i = ix.index_of["P0000000A1"]
    expected = ix.bayes_rating[i] / 5 * math.log2(2 + 100 + 3)
    assert ix.quality[i] == pytest.approx(expected)
    assert set(ix.top_by_main) == {"Electronics", "Fashion"}


def test_model_versions_and_empty_build():
    ix = build_indexes(make_catalog(), make_interactions(), PARAMS)
    assert ix.model_versions["content"].startswith("tfidf-8-")
    assert ix.model_versions["association"].startswith(f"rules-{ix.rules.n_rules}-")
    empty = build_indexes(Catalog.from_rows([]), Interactions.empty())
    assert empty.n_items == 0 and empty.rules.n_rules == 0
