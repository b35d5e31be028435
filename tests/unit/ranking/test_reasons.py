from services.common.contracts import RankRequest, UserFeatures
from tests.unit.ranking.helpers import cand, feat, pid, run


def reasons(resp):
    return {i.product_id: i.reasons for i in resp.items}


def test_reason_texts():
    user = UserFeatures(
        user_id="u", known=True, recent_items=[pid(100)], category_affinity={"Books": 1.0}
    )
    feats = [
        feat(100),
        feat(101),
        feat(1, sub="S1"),
        feat(2, sub="S2"),
        feat(3, sub="S3"),
        feat(4, sub="S4"),
        feat(5, sub="S5", discount_ratio=0.35),
        feat(6, sub="Headphones"),
        feat(7, main="Books", sub="Novels"),
        feat(8, sub="S8"),
    ]
    cands = [
        cand(1, "content", 0.9, pid(100)),
        cand(2, "association", 0.9, pid(101)),
        cand(3, "search", 0.9, "tv"),
        cand(4, "trending", 0.9),
        cand(5, "best_value", 0.9),
        cand(6, "top_category", 0.9, "Headphones"),
        cand(7, "popular", 0.1),
        cand(8, "content", 0.9, pid(101)),
    ]
    req = RankRequest(
        surface="product",
        k=10,
        user=user,
        candidates=cands,
        context_product_ids=[pid(101)],
        query="tv",
    )
    got = reasons(run(req, feats))
    assert got[pid(1)][0] == "Because you viewed Item 100"
    assert got[pid(2)][0] == "Often bought with Item 101"
    assert got[pid(3)][0] == 'Matches your search "tv"'
    assert got[pid(4)][0] == "Trending in Electronics"
    assert got[pid(5)][0] == "Great value: 35% off"
    assert got[pid(6)][0] == "Top rated in Headphones"
    assert "Because you like Books" in got[pid(7)]
    assert got[pid(8)][0] == "Similar to Item 101"
    assert all(1 <= len(r) <= 2 for r in got.values())


def test_popular_reason_and_fallback_reason():
    req = RankRequest(
        surface="home",
        k=2,
        candidates=[cand(1, "popular", 1.0), cand(2, "content", 0.5, "ZZZZZZZZZZ")],
    )
    got = reasons(run(req, [feat(1), feat(2, sub="X")]))
    assert got[pid(1)] == ["Popular in Electronics"]
    assert got[pid(2)] == ["Popular in Electronics"]  # anchor unknown: generic reason


def test_learned_sources_reasons_and_home_order():
    user = UserFeatures(user_id="u", known=True, recent_items=[pid(100)])
    feats = [feat(100), feat(101)] + [feat(i, sub=f"S{i}") for i in range(1, 6)]
    cands = [
        cand(1, "two_tower", 1.0),
        cand(2, "als", 0.9),
        cand(3, "als", 0.9, pid(101)),
        cand(4, "semantic", 0.9, pid(101)),
        cand(5, "semantic", 0.9, "earbuds"),
    ]
    resp = run(RankRequest(surface="home", k=5, user=user, candidates=cands), feats)
    got = reasons(resp)
    assert got[pid(1)][0] == "Picked for you from your recent activity"
    assert got[pid(2)][0] == "Customers with similar taste liked this"
    assert got[pid(3)][0] == "Customers who liked Item 101 also liked this"
    assert got[pid(4)][0] == "Similar to Item 101"
    assert got[pid(5)][0] == 'Matches your search "earbuds"'
    # the tuned home profile weighs two-tower first
    assert resp.profile == "home" and resp.items[0].product_id == pid(1)
