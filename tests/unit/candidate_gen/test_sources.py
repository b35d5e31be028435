import numpy as np

from services.candidate_gen import sources as src
from services.candidate_gen.sources import TrendingSnapshot
from services.candidate_gen.text import expand_query
from services.common.contracts import CandidateSource


def ids(ix, hits):
    return list(ix.product_ids[hits.idx])


def idx(ix, *pids):
    return np.array([ix.index_of[p] for p in pids], dtype=np.int64)


def test_content_neighbours(ix):
    hits = src.content(ix, idx(ix, "P0000000A1"), 10)
    found = ids(ix, hits)
    assert found[0] == "P0000000A2"  # shares "headphones"
    assert "P0000000A1" not in found and "P0000000A8" not in found  # anchor, out of stock
    assert set(hits.anchor) == {"P0000000A1"}
    assert (hits.score <= 1).all() and (hits.score > 0).all()
    assert (np.diff(hits.score) <= 0).all()


def test_content_attributes_the_closest_anchor(ix):
    hits = src.content(ix, idx(ix, "P0000000A1", "P0000000A4"), 10)
    anchor = dict(zip(ids(ix, hits), hits.anchor, strict=True))
    assert anchor["P0000000A2"] == "P0000000A1"
    assert anchor["P0000000A5"] == "P0000000A4"  # "for men"


def test_association_scores_normalised_with_anchor(ix):
    hits = src.association(ix, idx(ix, "P0000000A1"), 10)
    assert ids(ix, hits)[0] == "P0000000A2"
    assert hits.score[0] == 1.0 and hits.anchor[0] == "P0000000A1"
    assert src.association(ix, idx(ix, "P0000000A5"), 10).idx.size == 0


def test_association_excludes_and_limits(ix):
    hits = src.association(ix, idx(ix, "P0000000A1", "P0000000A3"), 1, idx(ix, "P0000000A2"))
    assert len(hits) == 1 and "P0000000A2" not in ids(ix, hits)


def test_search_with_expansion(ix):
    hits, expansion = src.search(ix, "earbuds", 10)
    assert expansion == ["earphones", "headphones"]
    assert set(ids(ix, hits)[:2]) == {"P0000000A1", "P0000000A2"}
    assert set(hits.anchor) == {"earbuds"}
    hits, expansion = src.search(ix, "tv", 10)
    assert expansion == ["television"]
    assert ids(ix, hits)[0] == "P0000000A3"
    assert ids(ix, src.search(ix, "notebook", 10)[0])[0] == "P0000000A6"  # -> laptop


def test_search_category_words_and_no_match(ix):
    hits, _ = src.search(ix, "fashion", 10)
    assert set(ids(ix, hits)) == {"P0000000A4", "P0000000A5"}
    hits, expansion = src.search(ix, "xyzzy plugh", 10)
    assert len(hits) == 0 and expansion == []


def test_expand_query_plural_and_no_duplicates():
    assert expand_query("cheap sneakers") == ["shoes"]
    assert expand_query("phone phone") == ["smartphone", "mobile"]
    assert expand_query("earphones headphones") == ["earbuds", "headset"]


def test_top_category_and_popular_filters(ix):
    hits = src.top_category(ix, ["Fashion", "Nope"], 10, level="main")
    assert set(ids(ix, hits)) == {"P0000000A4", "P0000000A5"}
    assert set(hits.anchor) == {"Fashion"}
    hits = src.popular(ix, 10, main_categories=["Fashion"])
    assert set(ids(ix, hits)) == {"P0000000A4", "P0000000A5"}
    hits = src.best_value(ix, 2, idx(ix, "P0000000A4"))
    assert len(hits) == 2 and "P0000000A4" not in ids(ix, hits)


def test_trending_snapshot_and_popular_fallback(ix):
    snap = TrendingSnapshot.build(
        ix,
        {"P0000000A5": 4.0, "P0000000A8": 9.0, "UNKNOWN000": 3.0, "P0000000A3": 2.0},
        {"Fashion": 3.0, "Electronics": 1.0},
    )
    assert list(ix.product_ids[snap.items.idx]) == ["P0000000A5", "P0000000A3"]  # A8 OOS
    assert snap.items.score.tolist() == [1.0, 0.5]
    assert snap.categories == ["Fashion", "Electronics"]
    hits = src.trending(ix, snap, 10)
    assert hits.source == CandidateSource.trending
    fallback = src.trending(ix, TrendingSnapshot.empty(), 3)
    assert fallback.source == CandidateSource.popular
    assert ids(ix, fallback) == list(ix.product_ids[ix.popular.idx[:3]])


def test_top_k():
    scores = np.array([0.1, 0.0, 0.9, 0.5, 0.9])
    assert src.top_k(scores, 3).tolist() == [2, 4, 3]
    assert src.top_k(scores, 10).tolist() == [2, 4, 3, 0]
