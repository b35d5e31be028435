"""Each metric on a hand-computed case: 2 users, 5 items, k = 3."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from ml.evaluation import metrics as M
from ml.training.dataset import from_triples

# user 0: held-out {1, 3}; recommended [1, 0, 3] -> hits at ranks 1 and 3
# user 1: held-out {4};    recommended [0, 4, -1] -> hit at rank 2, one slot empty
# user 2: no held-out items -> skipped everywhere
RECS = np.array([[1, 0, 3], [0, 4, -1], [0, 1, 2]])
TEST = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], np.float32))
# train: item 0 by users 0,1,2; item 1 by 1,2; item 2 by 2; item 3 by 1; item 4 by 0
TRAIN = sp.csr_matrix(np.array([[1, 0, 0, 0, 1], [1, 1, 0, 1, 0], [1, 1, 1, 0, 0]], np.float32))
D = [1 / math.log2(r + 1) for r in (1, 2, 3)]  # 1, 0.6309, 0.5


def test_precision_divides_by_k():
    assert M.precision_at_k(RECS, TEST) == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_recall_divides_by_relevant():
    assert M.recall_at_k(RECS, TEST) == pytest.approx((2 / 2 + 1 / 1) / 2)


def test_ndcg_ideal_over_min_relevant_k():
    user0 = (D[0] + D[2]) / (D[0] + D[1])
    user1 = D[1] / D[0]
    assert M.ndcg_at_k(RECS, TEST) == pytest.approx((user0 + user1) / 2)


def test_map_divides_by_relevant():
    user0 = (1 / 1 + 2 / 3) / 2
    user1 = (1 / 2) / 1
    assert M.map_at_k(RECS, TEST) == pytest.approx((user0 + user1) / 2)


def test_catalog_coverage_ignores_padding():
    assert M.catalog_coverage(RECS[:2], 5) == pytest.approx(4 / 5)  # 0, 1, 3, 4
    assert M.catalog_coverage(np.array([[1, -1], [1, 3]]), 5) == pytest.approx(2 / 5)


def test_novelty_is_mean_self_information():
    # users of items in train: 0 -> 3, 1 -> 2, 2 -> 1, 3 -> 1, 4 -> 1; 3 users
    recs = np.array([[0, 1], [2, -1]])
    expected = (-math.log2(3 / 3) - math.log2(2 / 3) - math.log2(1 / 3)) / 3
    assert M.novelty(recs, TRAIN) == pytest.approx(expected)


def test_intra_list_diversity_from_cooccurrence():
    # item columns over users: 0 = (1,1,1), 1 = (0,1,1), 4 = (1,0,0)
    cos01 = 2 / math.sqrt(3 * 2)
    cos04 = 1 / math.sqrt(3 * 1)
    cos14 = 0.0
    user0 = 1 - (cos01 + cos04 + cos14) / 3
    user1 = 1 - cos01  # [0, 1]: one pair
    recs = np.array([[0, 1, 4], [0, 1, -1], [2, -1, -1]])  # user 2: one item, skipped
    assert M.intra_list_diversity(recs, TRAIN) == pytest.approx((user0 + user1) / 2)


def test_intra_list_diversity_with_dense_vectors():
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    expected = 1 - (0.0 + 1 / math.sqrt(2) + 1 / math.sqrt(2)) / 3
    assert M.intra_list_diversity(np.array([[0, 1, 2]]), vectors) == pytest.approx(expected)


def test_evaluate_recs_keys_and_skips_users_without_test_items():
    result = M.evaluate_recs(RECS, TRAIN, TEST)
    assert list(result) == [
        "precision@3",
        "recall@3",
        "ndcg@3",
        "map",
        "catalog_coverage",
        "intra_list_diversity",
        "novelty",
    ]
    assert result["precision@3"] == pytest.approx(0.5)
    # user 2's items [0, 1, 2] would add item 2 to the coverage if it were counted
    assert result["catalog_coverage"] == pytest.approx(4 / 5)


class FixedScorer:
    name = "fixed"

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def score(self, data, users):
        return self.scores[users]


def test_evaluate_scorer_masks_seen_items_and_pads():
    data = from_triples(
        np.array(["a", "a", "b"]), np.array(["i0", "i1", "i2"]), np.ones(3), np.zeros(3)
    )
    test = sp.csr_matrix(np.array([[0, 0, 1], [1, 0, 0]], np.float32))
    scores = np.array([[9.0, 8.0, 1.0], [5.0, 6.0, 7.0]], np.float32)
    metrics, recs = M.evaluate_scorer(FixedScorer(scores), data, test, k=3, batch=1)
    # user a saw i0, i1: only i2 is left; user b saw i2: i1 then i0
    assert recs.tolist() == [[2, -1, -1], [1, 0, -1]]
    assert metrics["recall@3"] == pytest.approx(1.0)
    assert metrics["precision@3"] == pytest.approx((1 / 3 + 1 / 3) / 2)
