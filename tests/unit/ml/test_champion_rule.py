"""The champion rule: a new version takes `champion` only when it is not worse."""

from __future__ import annotations

from ml.training.registry import mlflow_key, should_promote

CHAMPION = {"ndcg@10": 0.30, "recall@10": 0.20}


def test_first_version_becomes_champion():
    assert should_promote({"ndcg@10": 0.01, "recall@10": 0.01}, None, 0.01)[0]


def test_better_or_equal_is_promoted():
    assert should_promote({"ndcg@10": 0.31, "recall@10": 0.20}, CHAMPION, 0.01)[0]
    assert should_promote(dict(CHAMPION), CHAMPION, 0.0)[0]


def test_within_tolerance_is_promoted_and_beyond_is_not():
    assert should_promote({"ndcg@10": 0.2971, "recall@10": 0.2}, CHAMPION, 0.01)[0]
    ok, why = should_promote({"ndcg@10": 0.2969, "recall@10": 0.2}, CHAMPION, 0.01)
    assert not ok and "ndcg@10" in why


def test_every_guard_metric_counts():
    ok, why = should_promote({"ndcg@10": 0.40, "recall@10": 0.10}, CHAMPION, 0.01)
    assert not ok and "recall@10" in why


def test_missing_candidate_metric_is_not_promoted():
    assert not should_promote({"recall@10": 0.5}, CHAMPION, 0.01)[0]


def test_mlflow_metric_names_have_no_at_sign():
    assert mlflow_key("precision@10") == "precision_at_10"
