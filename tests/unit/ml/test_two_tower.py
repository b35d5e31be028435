"""Two-tower retrieval: numpy serving path == Keras towers, persistence, cold items/users."""

from __future__ import annotations

import numpy as np
import pytest

from ml.training import two_tower
from ml.training.dataset import TrainingData, from_triples
from services.common.models.two_tower import TwoTowerBundle

pytest.importorskip("tensorflow_recommenders")

N_USERS, N_ITEMS, N_CATS, N_LIKED = 60, 60, 3, 5
WORDS = ("red cotton shirt", "steel kitchen knife", "wireless audio earbuds")
PRICES = (300.0, 1_500.0, 7_000.0)
PARAMS = two_tower.Params(
    dim=16, id_dim=16, category_dim=4, band_dim=4, hidden=32, epochs=25, batch_size=128,
    learning_rate=0.02, temperature=0.2, history_len=5,
)  # fmt: skip


def _category(item: int) -> int:
    return item % N_CATS


def _content() -> dict[str, tuple[str, str, float]]:
    return {
        f"i{j:02d}": (f"{WORDS[_category(j)]} model{j}", f"cat{_category(j)}", PRICES[_category(j)])
        for j in range(N_ITEMS)
    }


def _data(with_content: bool = True) -> TrainingData:
    """Each user likes N_LIKED of the 20 items of one category and sometimes one item of
    another, in random order (an out-of-category item always last would make an
    all-in-category history a signal for an out-of-category target)."""
    rng = np.random.default_rng(7)
    rows = []
    for u in range(N_USERS):
        pref = u % N_CATS
        items = list(rng.choice(np.arange(pref, N_ITEMS, N_CATS), size=N_LIKED, replace=False))
        if rng.random() < 0.3:
            items.append(rng.choice([j for j in range(N_ITEMS) if _category(j) != pref]))
        for t, j in zip(rng.permutation(len(items)), items, strict=True):
            rows.append((f"u{u:02d}", f"i{j:02d}", float(rng.integers(1, 4)), 1_000.0 + t))
    users, items, weights, ts = map(np.array, zip(*rows, strict=True))
    return from_triples(users, items, weights, ts, _content() if with_content else None)


@pytest.fixture(scope="module")
def trained() -> tuple[TrainingData, TwoTowerBundle, list]:
    data = _data()
    calls: list = []
    bundle = two_tower.train(data, PARAMS, lambda *a: calls.append(a))
    return data, bundle, calls


def _inputs(data: TrainingData, bundle: TwoTowerBundle, users: np.ndarray) -> tuple:
    history = two_tower.recent_matrix(data, users, bundle.history_len)
    item_cat = np.concatenate([[0], bundle.category_index(list(data.content.category))])
    affinity = two_tower.category_weights(data.matrix[users], item_cat, len(bundle.categories))
    return users + 1, history, affinity


def test_training_reports_progress_and_embeds_every_item(trained) -> None:
    data, bundle, calls = trained
    assert calls[-1] == (two_tower.NAME, PARAMS.epochs, PARAMS.epochs)
    assert bundle.item_vectors.shape == (N_ITEMS, PARAMS.dim)
    assert np.isfinite(bundle.item_vectors).all()
    np.testing.assert_allclose(np.linalg.norm(bundle.item_vectors, axis=1), 1.0, atol=1e-5)


def test_numpy_towers_equal_keras_towers(trained) -> None:
    data, bundle, _ = trained
    users = np.array([0, 5, 17, 39])
    user, history, affinity = _inputs(data, bundle, users)
    keras_user = bundle.keras["user_tower"](
        {"user": user, "history": history, "affinity": affinity}, training=False
    ).numpy()
    np.testing.assert_allclose(
        bundle.user_vectors_idx(user, history, affinity), keras_user, atol=1e-4
    )
    items = np.arange(1, N_ITEMS + 1)
    content = data.content
    keras_item = bundle.keras["item_tower"](
        {
            "item": items,
            "tokens": bundle.token_matrix(content.text),
            "category": bundle.category_index(content.category),
            "band": bundle.price_band(content.price),
        },
        training=False,
    ).numpy()
    np.testing.assert_allclose(bundle.item_vectors, keras_item, atol=1e-4)


def test_string_api_matches_index_api(trained) -> None:
    data, bundle, _ = trained
    users = np.array([3, 4])
    user, history, affinity = _inputs(data, bundle, users)
    recent = [[data.item_ids[i] for i in data.recent_items(u, 5)] for u in users]
    shares = [{f"cat{c}": float(w) for c, w in enumerate(row)} for row in affinity]
    by_ids = bundle.user_vectors(
        list(data.user_ids[users]), [[*r, "unknown"] for r in recent], shares
    )
    np.testing.assert_allclose(by_ids, bundle.user_vectors_idx(user, history, affinity), atol=1e-6)
    # Training embeds each distinct token once; so must serving.
    np.testing.assert_array_equal(
        bundle.token_matrix(["Red red SHIRT, red"]), bundle.token_matrix(["red shirt"])
    )


def test_save_load_round_trip(trained, tmp_path) -> None:
    data, bundle, _ = trained
    bundle.save(tmp_path)
    loaded = TwoTowerBundle.load(tmp_path)
    assert loaded.keras is None and loaded.meta["counts"]["items"] == N_ITEMS
    np.testing.assert_array_equal(loaded.item_vectors, bundle.item_vectors)
    np.testing.assert_array_equal(loaded.item_ids, bundle.item_ids)
    args = (["u01", None], [["i01", "i04"], ["i02"]], [{"cat1": 2.0}, {}])
    np.testing.assert_array_equal(loaded.user_vectors(*args), bundle.user_vectors(*args))
    new = (["red cotton shirt slim"], ["cat0"], np.array([250.0]))
    np.testing.assert_array_equal(loaded.item_vectors_for(*new), bundle.item_vectors_for(*new))


def test_new_item_embeds_near_its_category(trained) -> None:
    _, bundle, _ = trained
    texts = [f"{w} new" for w in WORDS]
    vectors = bundle.item_vectors_for(texts, [f"cat{c}" for c in range(N_CATS)], np.array(PRICES))
    assert np.isfinite(vectors).all() and (np.abs(vectors).sum(axis=1) > 0).all()
    cats = np.arange(N_ITEMS) % N_CATS
    sim = vectors @ bundle.item_vectors.T  # (new, known)
    for c in range(N_CATS):
        assert sim[c, cats == c].mean() > sim[c, cats != c].mean() + 0.3


def test_scorer_ranks_the_preferred_category_first(trained) -> None:
    data, bundle, _ = trained
    scorer = two_tower.scorer(bundle)
    users = np.arange(N_USERS)
    scores = scorer.score(data, users)
    assert scores.shape == (N_USERS, N_ITEMS) and scores.dtype == np.float32
    scores[data.matrix.nonzero()] = -np.inf  # seen items out, as evaluation does
    top = np.argsort(-scores, axis=1)[:, :5]
    in_pref = (top % N_CATS) == (users % N_CATS)[:, None]
    assert in_pref.mean() >= 0.8


def test_new_user_from_recent_items_and_affinity(trained) -> None:
    _, bundle, _ = trained
    cats = np.arange(N_ITEMS) % N_CATS
    for c in range(N_CATS):
        recent = [f"i{j:02d}" for j in (c, c + 3, c + 6)]
        query = bundle.user_vectors([None, None], [recent, []], [{f"cat{c}": 3.0}] * 2)
        scores = query @ bundle.item_vectors.T
        rest = cats != c
        rest_in_cat = (cats == c) & ~np.isin(np.arange(N_ITEMS), [c, c + 3, c + 6])
        assert scores[0, rest_in_cat].mean() > scores[0, rest].mean()
        assert (cats[np.argsort(-scores[1])[:5]] == c).all()  # affinity alone


def test_scorer_embeds_items_unknown_to_the_bundle(trained) -> None:
    _, bundle, _ = trained
    content = _content() | {"i99": ("wireless audio earbuds pro", "cat2", 6_000.0)}
    data = from_triples(
        np.array(["u02"]), np.array(["i02"]), np.ones(1), np.ones(1), content,
        all_items=np.array(list(content)),
    )  # fmt: skip
    scores = two_tower.scorer(bundle).score(data, np.array([0]))
    assert np.isfinite(scores).all()
    new = list(data.item_ids).index("i99")
    np.testing.assert_allclose(
        scores[0, new], bundle.user_vectors(["u02"], [["i02"]], [{"cat2": 1.0}])[0]
        @ bundle.item_vectors_for(["wireless audio earbuds pro"], ["cat2"], np.array([6e3]))[0],
        atol=1e-5,
    )  # fmt: skip


def test_export_savedmodel_serves_the_user_tower(trained, tmp_path) -> None:
    import tensorflow as tf

    data, bundle, _ = trained
    users = np.array([1, 2])
    user, history, affinity = _inputs(data, bundle, users)
    out = two_tower.export_savedmodel(bundle, tmp_path)
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    got = serve(
        user=tf.constant(user), history=tf.constant(history), affinity=tf.constant(affinity)
    )["embedding"].numpy()
    np.testing.assert_allclose(got, bundle.user_vectors_idx(user, history, affinity), atol=1e-4)


def test_ids_only_without_content_and_seeded() -> None:
    data = _data(with_content=False)
    params = two_tower.Params(dim=8, id_dim=8, hidden=16, epochs=2, batch_size=128)
    bundle = two_tower.train(data, params)
    again = two_tower.train(data, params)
    np.testing.assert_array_equal(again.item_vectors, bundle.item_vectors)
    assert not bundle.has_content and len(bundle.categories) == 0
    scores = two_tower.scorer(bundle).score(data, np.arange(3))
    assert scores.shape == (3, N_ITEMS) and np.isfinite(scores).all()
    unknown = from_triples(np.array(["u00"]), np.array(["zz"]), np.ones(1), np.ones(1))
    assert np.isneginf(two_tower.scorer(bundle).score(unknown, np.array([0]))).all()
