"""The stratified per-user split of DESIGN section 8."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ml.evaluation.split import stratified_split
from ml.training.dataset import from_triples


def make_data(counts=(20, 8, 4, 3, 2, 1), n_items=30, seed=0):
    rng = np.random.default_rng(seed)
    users, items, weights, times = [], [], [], []
    for u, n in enumerate(counts):
        chosen = rng.choice(n_items, n, replace=False)
        users += [f"u{u}"] * n
        items += [f"i{i:02d}" for i in chosen]
        weights += list(rng.uniform(0.5, 5.0, n))
        times += list(rng.integers(1_000, 2_000, n))
    return from_triples(np.array(users), np.array(items), np.array(weights), np.array(times))


def test_per_user_share_is_round_of_75_percent_with_at_least_one_in_train():
    data = make_data()
    train, test = stratified_split(data)
    n = np.diff(data.matrix.indptr)
    n_train = np.diff(train.matrix.indptr)
    # round half to even like the reference: 20->15, 8->6, 4->3, 3->2 (2.25), 2->2 (1.5), 1->1
    assert n.tolist() == [20, 8, 4, 3, 2, 1]
    assert n_train.tolist() == [15, 6, 3, 2, 2, 1]
    assert (n_train + np.diff(test.indptr)).tolist() == n.tolist()


def test_disjoint_union_is_the_original_and_test_is_binary():
    data = make_data()
    train, test = stratified_split(data)
    assert train.matrix.multiply(test).nnz == 0
    union = (train.matrix > 0).astype(np.int8) + (test > 0).astype(np.int8)
    assert (union != (data.matrix > 0).astype(np.int8)).nnz == 0
    assert set(np.unique(test.data)) == {1.0}
    assert test.shape == data.matrix.shape


def test_train_keeps_weights_last_seen_and_ids():
    data = make_data()
    train, _ = stratified_split(data)
    m, seen = train.matrix.tocoo(), train.last_seen
    assert np.allclose(m.data, np.asarray(data.matrix[m.row, m.col]).ravel())
    assert np.allclose(
        np.asarray(seen[m.row, m.col]).ravel(), np.asarray(data.last_seen[m.row, m.col]).ravel()
    )
    assert seen.nnz == train.matrix.nnz
    assert (train.user_ids == data.user_ids).all() and (train.item_ids == data.item_ids).all()


def test_deterministic_with_the_seed_and_different_with_another():
    data = make_data()
    a_train, a_test = stratified_split(data, seed=42)
    b_train, b_test = stratified_split(data, seed=42)
    assert (a_test != b_test).nnz == 0 and (a_train.matrix != b_train.matrix).nnz == 0
    _, c_test = stratified_split(data, seed=7)
    assert (a_test != c_test).nnz > 0


def test_every_user_with_two_or_more_interactions_has_test_items():
    data = make_data()
    _, test = stratified_split(data)
    has_test = np.diff(sp.csr_matrix(test).indptr) > 0
    # 2 -> 2/0 by round-half-even: only users with >= 3 interactions are sure to have test items
    assert has_test.tolist() == [True, True, True, True, False, False]


def write_ratings(path, rows, header="userId,movieId,rating,timestamp"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_load_ratings_every_rating_is_an_interaction(tmp_path):
    from ml.evaluation.movielens import load_ratings

    rows = [(1, 10, 4.0, 100), (1, 20, 0.5, 200), (2, 10, 3.0, 300), (2, 30, 5.0, 400)]
    data = load_ratings(write_ratings(tmp_path / "ratings.csv", rows))
    assert data.user_ids.tolist() == ["1", "2"] and data.item_ids.tolist() == ["10", "20", "30"]
    assert data.matrix.nnz == 4 and set(data.matrix.data) == {1.0}  # 0.5 stars count too
    assert data.last_seen[0, 1] == 200
    assert data.content is None
    rated = load_ratings(tmp_path / "ratings.csv", weighting="rating")
    assert rated.matrix[1, 2] == 5.0


def test_load_ratings_reads_movies_beside_the_file(tmp_path):
    from ml.evaluation.movielens import load_ratings

    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n10,"Heat, The (1995)",Action|Crime\n20,Up (2009),Animation\n'
    )
    data = load_ratings(write_ratings(tmp_path / "ratings.csv", [(1, 10, 4, 1), (1, 20, 3, 2)]))
    assert data.content.text == ["Heat, The (1995) Action Crime", "Up (2009) Animation"]
    assert data.content.category == ["Action", "Animation"]
    assert np.isnan(data.content.price).all()


def test_load_ratings_rejects_another_file_with_a_clear_message(tmp_path):
    import pytest

    from ml.evaluation.movielens import RatingsFormatError, load_ratings

    path = write_ratings(tmp_path / "x.csv", [("a", 1, 2)], header="name,price,qty")
    with pytest.raises(RatingsFormatError, match="missing column.*userId.*expected"):
        load_ratings(path)
