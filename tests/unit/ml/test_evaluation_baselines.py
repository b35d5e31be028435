"""The reference recommenders and the blend behave as documented."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ml.evaluation.baselines import Ease, ItemKNN, MostPopular
from ml.evaluation.blend import BlendScorer, normalise, tune_weights
from ml.evaluation.metrics import top_k_unseen
from ml.training.dataset import from_triples

DAY = 86_400.0


def data_from(pairs, times=None):
    users = np.array([u for u, _ in pairs])
    items = np.array([i for _, i in pairs])
    ts = np.array(times if times is not None else [0.0] * len(pairs))
    return from_triples(users, items, np.ones(len(pairs)), ts)


# Two taste groups: {a, b} are watched together, {x, y} together; p is watched by all.
PAIRS = [
    ("u1", "a"), ("u1", "b"), ("u1", "p"),
    ("u2", "a"), ("u2", "b"), ("u2", "p"),
    ("u3", "x"), ("u3", "y"), ("u3", "p"),
    ("u4", "x"), ("u4", "y"), ("u4", "p"),
    ("u5", "a"), ("u5", "p"),
    ("u6", "x"),
]  # fmt: skip


def idx(data, *items):
    return [int(np.flatnonzero(data.item_ids == i)[0]) for i in items]


def user(data, u):
    return np.array([int(np.flatnonzero(data.user_ids == u)[0])])


def test_most_popular_recommends_the_most_popular_unseen_items():
    data = data_from(PAIRS)
    model = MostPopular.fit(data)
    recs = top_k_unseen(model, data, user(data, "u6"), 3)[0]
    # p (5 users) first; then a (3) before x (3 incl. u6 but seen) ... u6 saw x
    assert recs[0] == idx(data, "p")[0]
    assert recs[1] == idx(data, "a")[0]
    assert idx(data, "x")[0] not in recs


def test_item_knn_recommends_co_occurring_items():
    data = data_from(PAIRS)
    for similarity in ("jaccard", "lift", "cosine", "cooccurrence"):
        model = ItemKNN.fit(data, similarity=similarity)
        assert top_k_unseen(model, data, user(data, "u5"), 1)[0, 0] == idx(data, "b")[0]
        # x co-occurs twice with y and with p; the normalised similarities discount p's
        # popularity (raw counts tie, and the tie goes to the lower index, p).
        expected = "p" if similarity == "cooccurrence" else "y"
        assert top_k_unseen(model, data, user(data, "u6"), 1)[0, 0] == idx(data, expected)[0]


def test_item_knn_similarity_values():
    data = data_from(PAIRS)
    a, b, p = idx(data, "a", "b", "p")
    sim = ItemKNN.fit(data, similarity="jaccard").similarity.toarray()
    # a: u1 u2 u5; b: u1 u2; p: u1..u5
    assert np.isclose(sim[a, b], 2 / (3 + 2 - 2))
    assert np.isclose(sim[a, p], 3 / (3 + 5 - 3))
    lift = ItemKNN.fit(data, similarity="lift").similarity.toarray()
    assert np.isclose(lift[a, b], 2 / (3 * 2))


def test_item_knn_time_decay_favours_recent_interactions():
    # u9 watched a long ago and x recently: with decay, y (x's neighbour) beats b.
    pairs = PAIRS + [("u9", "a"), ("u9", "x")]
    times = [0.0] * len(PAIRS) + [0.0, 300 * DAY]
    data = data_from(pairs, times)
    plain = ItemKNN.fit(data, similarity="cooccurrence")
    decayed = ItemKNN.fit(data, similarity="cooccurrence", half_life_days=30)
    scores = plain.score(data, user(data, "u9"))[0]
    b, y = idx(data, "b", "y")
    assert scores[b] == scores[y]  # without decay a and x count the same
    scores = decayed.score(data, user(data, "u9"))[0]
    assert scores[y] > 100 * scores[b]


def test_ease_recommends_co_occurring_items():
    data = data_from(PAIRS)
    model = Ease.fit(data, l2=1.0, min_users=1)
    assert top_k_unseen(model, data, user(data, "u5"), 1)[0, 0] == idx(data, "b")[0]
    assert top_k_unseen(model, data, user(data, "u6"), 1)[0, 0] == idx(data, "y")[0]
    assert np.allclose(np.diag(model.weights), 0.0)


def test_normalise_per_user_over_unseen_items():
    scores = np.array([[10.0, 4.0, 2.0, -np.inf], [1.0, 1.0, 3.0, 5.0]])
    seen = np.array([[True, False, False, False], [False, False, False, False]])
    out = normalise(scores, seen, "minmax")
    assert np.allclose(out[0], [0.0, 1.0, 0.0, 0.0])  # 10 is seen; -inf counts as the lowest
    assert np.allclose(out[1], [0.0, 0.0, 0.5, 1.0])
    ranks = normalise(scores, seen, "rank")
    assert ranks[0, 1] == 1.0 and ranks[1, 3] == 1.0


class Fixed:
    def __init__(self, name, scores):
        self.name, self.scores = name, scores

    def score(self, data, users):
        return self.scores[users]


def test_blend_and_tuning_prefer_the_informative_source():
    # 3 users x 4 items; "good" ranks each user's held-out item first, "bad" last.
    data = data_from([("u0", "i0"), ("u1", "i1"), ("u2", "i2"), ("u2", "i3")])
    validation = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]], np.float32))
    good = np.array([[0, 9, 1, 2], [2, 0, 9, 1], [9, 1, 0, 0]], np.float32)
    scorers = {"good": Fixed("good", good), "bad": Fixed("bad", -good)}
    weights, metrics = tune_weights(scorers, data, validation, grid=(0.0, 0.5, 1.0))
    assert weights == {"good": 1.0, "bad": 0.0}
    assert metrics["ndcg@10"] == 1.0
    blend = BlendScorer(scorers, weights)
    assert top_k_unseen(blend, data, np.arange(3), 1)[:, 0].tolist() == [1, 2, 0]


def test_evaluate_file_writes_one_object_per_model(tmp_path):
    import json

    from ml.evaluation.run import evaluate_file, format_table

    rng = np.random.default_rng(1)
    lines = ["userId,movieId,rating,timestamp"]
    for u in range(40):  # two taste groups of 15 movies each
        group = u % 2
        for m in rng.choice(15, 9, replace=False):
            lines.append(f"{u},{group * 100 + m},{rng.integers(1, 6)},{1000 + u}")
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out" / "results.json"
    models = ["most_popular", "item_knn", "ease", "blend"]
    results = evaluate_file(ratings, out, models=models)
    assert list(results) == models
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(results))
    for name in models:
        assert {"precision@10", "ndcg@10", "map", "novelty", "train_seconds"} <= set(saved[name])
    assert set(saved["blend"]["weights"]) == {"item_knn", "ease"}
    # the co-occurrence models know the taste groups; popularity does not
    assert saved["ease"]["precision@10"] > saved["most_popular"]["precision@10"]
    table = format_table(results)
    assert table.splitlines()[0].startswith("| model | P@10")
    assert "blend weights" in table


def test_evaluate_file_rejects_unknown_model_names(tmp_path):
    import pytest

    from ml.evaluation.run import evaluate_file

    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n1,1,4,1\n1,2,4,2\n2,1,3,3\n")
    with pytest.raises(ValueError, match="unknown model.*sar"):
        evaluate_file(ratings, None, models=["sar"])
