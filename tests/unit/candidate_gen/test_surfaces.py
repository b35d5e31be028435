import numpy as np
import pytest

from services.candidate_gen.fallback import fallback_items
from services.candidate_gen.sources import Hits, TrendingSnapshot
from services.candidate_gen.surfaces import allocate, generate
from services.common.contracts import (
    CandidateRequest,
    CandidateSource,
    RankedItem,
    UserFeatures,
)
from services.common.errors import ApiError

EMPTY = TrendingSnapshot.empty()


@pytest.fixture(scope="module")
def trending(ix):
    return TrendingSnapshot.build(ix, {"P0000000A5": 5.0, "P0000000A6": 1.0}, {"Fashion": 1.0})


def req(**kw):
    return CandidateRequest(**kw)


def known_user(**kw):
    return UserFeatures(user_id="u1", known=True, **kw)


def sources_of(resp):
    return {c.source for c in resp.candidates}


def test_cold_start_home(ix, trending):
    for user in (None, UserFeatures(user_id="new", known=False)):
        resp = generate(ix, trending, req(surface="home", user=user, limit=50))
        assert sources_of(resp) <= {"trending", "best_value", "top_category"}
        assert {"trending", "best_value", "top_category"} <= sources_of(resp)
        assert resp.candidates[0].product_id == "P0000000A5"  # trending first
    # top categories of a cold start follow the trending categories
    cats = {
        c.anchor
        for c in generate(ix, trending, req(surface="home")).candidates
        if c.source == "top_category"
    }
    assert cats == {"Fashion"}
    # no trending data: the trending slot is served by popular
    resp = generate(ix, EMPTY, req(surface="home", limit=50))
    assert "popular" in sources_of(resp) and "trending" not in sources_of(resp)


def test_known_user_home(ix, trending):
    user = known_user(
        recent_items=["P0000000A1"],
        recent_queries=["tv"],
        purchased=["P0000000A4"],
        category_affinity={"Electronics": 0.9, "Fashion": 0.1},
    )
    resp = generate(ix, trending, req(surface="home", user=user, limit=100))
    got = sources_of(resp)
    assert {"content", "association", "search", "trending", "top_category", "popular"} <= got
    pids = [c.product_id for c in resp.candidates]
    assert "P0000000A1" not in pids  # anchor
    assert "P0000000A4" not in pids  # purchased
    search = [c for c in resp.candidates if c.source == "search"]
    assert search[0].product_id == "P0000000A3" and search[0].anchor == "tv"
    assoc = [c for c in resp.candidates if c.source == "association"]
    assert assoc[0].product_id == "P0000000A2" and assoc[0].anchor == "P0000000A1"
    assert all(0 <= c.score <= 1 for c in resp.candidates)
    assert resp.model_versions.keys() == {"content", "association"}


def test_limit_is_respected(ix, trending):
    user = known_user(recent_items=["P0000000A1", "P0000000A3"])
    for limit in (1, 3, 7):
        resp = generate(ix, trending, req(surface="home", user=user, limit=limit))
        assert len(resp.candidates) == limit


def test_product_surface(ix, trending):
    resp = generate(ix, trending, req(surface="product", product_ids=["P0000000A1"]))
    assert {"content", "association", "top_category"} == sources_of(resp)
    assert "P0000000A1" not in {c.product_id for c in resp.candidates}
    top = [c for c in resp.candidates if c.source == "top_category"]
    assert {c.anchor for c in top} == {"Headphones"}


def test_errors(ix, trending):
    with pytest.raises(ApiError) as err:
        generate(ix, trending, req(surface="product", product_ids=["ZZZZZZZZZZ"]))
    assert (err.value.status, err.value.code, err.value.field) == (
        404,
        "product_not_found",
        "product_ids",
    )
    for surface in ("product", "cart", "frequently_bought_together"):
        with pytest.raises(ApiError) as err:
            generate(ix, trending, req(surface=surface))
        assert (err.value.status, err.value.field) == (422, "product_ids")
    with pytest.raises(ApiError) as err:
        generate(ix, trending, req(surface="search"))
    assert (err.value.status, err.value.field) == (422, "query")


def test_search_surface_and_fallback(ix, trending):
    resp = generate(ix, trending, req(surface="search", query="earbuds"))
    assert resp.expanded_query == ["earphones", "headphones"]
    assert resp.fallback_reason is None
    assert {c.product_id for c in resp.candidates[:2]} == {"P0000000A1", "P0000000A2"}
    user = known_user(recent_items=["P0000000A1"])
    resp = generate(ix, trending, req(surface="search", query="xyzzy", user=user))
    assert resp.fallback_reason == "no_search_match"
    assert resp.candidates[0].source == "association"
    assert resp.candidates[0].product_id == "P0000000A2"
    assert "trending" in sources_of(resp)


def test_search_personalised_only_among_matches(ix, trending):
    user = known_user(recent_items=["P0000000A3"])
    resp = generate(ix, trending, req(surface="search", query="shoes", user=user))
    search_ids = {c.product_id for c in resp.candidates if c.source == "search"}
    assoc_ids = {c.product_id for c in resp.candidates if c.source == "association"}
    assert assoc_ids == {"P0000000A4"} and assoc_ids <= search_ids


def test_cart_association_first(ix, trending):
    resp = generate(ix, trending, req(surface="cart", product_ids=["P0000000A2", "ZZZZZZZZZZ"]))
    assert resp.candidates[0].source == "association"
    assert resp.candidates[0].product_id == "P0000000A1"
    assert [c.source for c in resp.candidates].index("content") > 0
    popular = [c for c in resp.candidates if c.source == "popular"]
    assert popular and all(
        ix.main_category[ix.index_of[c.product_id]] == "Electronics" for c in popular
    )
    with pytest.raises(ApiError):
        generate(ix, trending, req(surface="cart", product_ids=["ZZZZZZZZZZ"]))


def test_frequently_bought_together(ix, trending):
    resp = generate(
        ix, trending, req(surface="frequently_bought_together", product_ids=["P0000000A1"])
    )
    assert resp.fallback_reason is None and "association" in sources_of(resp)
    # a few rules come first; similar items fill the rest of the limit
    first = resp.candidates[0]
    assert first.source == "association" and first.anchor == "P0000000A1"
    n_rules = sum(c.source == "association" for c in resp.candidates)
    assert all(c.source == "association" for c in resp.candidates[:n_rules])
    resp = generate(
        ix, trending, req(surface="frequently_bought_together", product_ids=["P0000000A1"], limit=1)
    )
    assert sources_of(resp) == {"association"}  # enough rules: nothing else
    resp = generate(
        ix, trending, req(surface="frequently_bought_together", product_ids=["P0000000A5"])
    )
    assert resp.fallback_reason == "no_association_rules"
    assert sources_of(resp) <= {"content", "top_category"} and resp.candidates


def test_allocate_redistributes_unused_share():
    def hits(n):
        return Hits(CandidateSource.popular, np.arange(n), np.ones(n))

    out = allocate([(hits(2), 0.5), (hits(100), 0.5)], 10)
    assert [len(h) for h in out] == [2, 8]
    out = allocate([(hits(100), 0.5), (hits(100), 0.3), (hits(100), 0.2)], 7)
    assert sum(len(h) for h in out) == 7
    assert allocate([(hits(0), 1.0)], 5) == []


def test_fallback_list(ix, trending):
    items = fallback_items(ix, trending, size=5, per_category=1)
    assert len(items) == 5
    RankedItem.model_validate(items[0])
    assert items[0]["product_id"] == "P0000000A5"
    assert items[0]["reasons"] == ["Trending in Fashion"] and items[0]["sources"] == ["trending"]
    assert [i["position"] for i in items] == [1, 2, 3, 4, 5]
    subs = [i["sub_category"] for i in items]
    assert len(subs) == len(set(subs))  # at most one per sub-category here
    assert items[-1]["sources"] == ["popular"]
    assert items[-1]["reasons"][0].startswith("Popular in ")
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
