import numpy as np
import pytest

from services.common.contracts import RankRequest, UserFeatures
from services.ranking.ranker import RankConfig, prepare
from services.ranking.rules import RuleConfig, diversity_slots, select
from services.ranking.scoring import SIG, ItemTable, blend, build_pool, signals, weight_vector
from tests.unit.ranking.helpers import cand, feat, pid, run

USER = UserFeatures(
    user_id="u1",
    known=True,
    recent_items=[pid(100)],
    purchased=[pid(7)],
    category_affinity={"Electronics": 0.8, "Books": 0.2},
)


def test_pool_dedupes_and_keeps_best_per_source():
    pool = build_pool(
        [
            cand(1, "content", 0.3, pid(100)),
            cand(1, "content", 0.6, pid(101)),
            cand(1, "association", 0.9, pid(100)),
            cand(2, "popular", 0.5),
        ],
        {pid(100)},
        1000,
    )
    assert list(pool.ids) == [pid(1), pid(2)]
    assert pool.anchors[(pid(1), "content")] == pid(101)  # the best content row's anchor
    assert pool.clicked.tolist() == [0.9, 0.0]  # association anchored on a recent item


def test_pool_cap_keeps_best_scored():
    cands = [cand(i, "popular", i / 2000) for i in range(1, 1501)]
    pool = build_pool(cands, set(), 1000)
    assert len(pool) == 1000 and pid(1500) in set(pool.ids) and pid(1) not in set(pool.ids)
    req = RankRequest(surface="cart", candidates=cands, context_product_ids=[pid(9999)])
    _, ids = prepare(req)
    assert len(ids) == 1000 and pid(9999) in ids


def test_signal_mapping_and_blend_by_hand():
    pool = build_pool(
        [
            cand(1, "association", 0.5, pid(100)),
            cand(1, "search", 1.0, "tv"),
            cand(2, "trending", 0.4),
            cand(2, "best_value", 0.7),
        ],
        set(),
        1000,
    )
    items = ItemTable.build(
        pool.ids,
        {
            pid(1): feat(1, trending=0.2, popularity=0.1),
            pid(2): feat(2, sub="TVs", trending=0.1, popularity=0.3),
        },
    )
    sig = signals(pool, items, None)
    assert sig[0, SIG["collaborative"]] == 0.5 and sig[0, SIG["query"]] == 1.0
    assert sig[0, SIG["clicked"]] == 0.0  # no user: nothing is "viewed"
    assert sig[0, SIG["trending"]] == 0.2  # from features
    assert sig[1, SIG["trending"]] == 0.4 and sig[1, SIG["popularity"]] == 0.7
    assert sig[:, SIG["diversity"]].tolist() == [0.0, 0.0]  # one item per sub: equal shares
    w = weight_vector({"collaborative": 0.4, "query": 0.3, "trending": 0.2, "diversity": 0.1})
    score = blend(sig, w, tie_break=0.01)
    assert score[0] == pytest.approx(0.4 * 0.5 + 0.3 * 1.0 + 0.2 * 0.2 + 0.01 * 0.1)
    assert score[1] == pytest.approx(0.2 * 0.4 + 0.01 * 0.7)


def test_diversity_and_affinity_signals():
    pool = build_pool(
        [cand(1, "popular", 1), cand(2, "popular", 1), cand(3, "popular", 1)], set(), 1000
    )
    items = ItemTable.build(
        pool.ids,
        {
            pid(1): feat(1),
            pid(2): feat(2),
            pid(3): feat(3, main="Books", sub="Novels"),
        },
    )
    sig = signals(pool, items, USER)
    assert sig[:, SIG["affinity"]].tolist() == pytest.approx([1.0, 1.0, 0.25])
    # pool share: Phones 2 of 2 max -> 0, Novels 1/2 -> 0.5; user: 1 - affinity
    assert sig[:, SIG["diversity"]].tolist() == pytest.approx([0.0, 0.0, 0.5 * (0.5 + 0.75)])


def test_business_rules_drop_and_exactly_k():
    feats = [feat(i, sub=f"S{i % 5}") for i in range(1, 21)]
    feats[2] = feat(3, sub="S3", in_stock=False)
    cands = [cand(i, "association", 1 - i / 100, pid(100)) for i in range(1, 21)]
    cands += [cand(2, "content", 0.5, pid(100))]  # duplicate product
    req = RankRequest(
        surface="cart", k=10, user=USER, candidates=cands, context_product_ids=[pid(1)]
    )
    config = RankConfig(rules=RuleConfig(diversity_share=0.0), blocklist=frozenset({pid(4)}))
    resp = run(req, feats, config)
    got = [i.product_id for i in resp.items]
    assert len(got) == 10 == len(set(got))
    assert not {pid(1), pid(3), pid(4), pid(7)} & set(got)  # context, OOS, blocked, purchased
    assert [i.position for i in resp.items] == list(range(1, 11))
    subs = [i.sub_category for i in resp.items]
    assert max(subs.count(s) for s in set(subs)) <= 3
    first = resp.items[0]
    assert first.product_id == pid(2) and first.sources == ["content", "association"]
    assert resp.profile == "hybrid"


def test_category_cap_relaxed_only_when_needed():
    feats = [feat(i) for i in range(1, 8)]  # all in one sub-category
    req = RankRequest(
        surface="cart", k=5, candidates=[cand(i, "popular", 0.5) for i in range(1, 8)]
    )
    assert len(run(req, feats).items) == 5
    strict = RankConfig(rules=RuleConfig(diversity_share=0.0, relax_category_cap=False))
    assert len(run(req, feats, strict).items) == 3


def test_diversity_slot_brings_a_new_category():
    feats = [feat(i, sub=f"S{i}") for i in range(1, 10)] + [feat(50, main="Garden", sub="Tools")]
    cands = [cand(i, "popular", 1 - i / 100) for i in range(1, 10)] + [cand(50, "popular", 0.01)]
    req = RankRequest(surface="home", k=5, candidates=cands)
    config = RankConfig(rules=RuleConfig(diversity_share=0.2))
    resp = run(req, feats, config, profile="content")
    got = {i.product_id: i for i in resp.items}
    assert len(resp.items) == 5 and pid(50) in got
    assert got[pid(50)].reasons[0] == "Something different: Garden"
    assert diversity_slots(4, 0.2) == 0 and diversity_slots(5, 0.2) == 1
    assert diversity_slots(10, 0.2) == 2


def test_select_prefers_new_main_categories():
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.05])
    mains = np.array(["A", "A", "A", "A", "B", "C"], dtype=object)
    subs = np.array(["a1", "a2", "a3", "a4", "b", "c"], dtype=object)
    sel = select(score, np.ones(6, bool), mains, subs, 5, RuleConfig(diversity_share=0.4))
    assert sel.picked.tolist() == [0, 1, 2, 4, 5] and sel.diversity_picks == {4, 5}


def test_boost_changes_order():
    feats = [feat(1, sub="A"), feat(2, sub="B")]
    req = RankRequest(
        surface="cart", k=2, candidates=[cand(1, "association", 1.0), cand(2, "association", 0.5)]
    )
    assert run(req, feats).items[0].product_id == pid(1)
    boosted = RankConfig(rules=RuleConfig(diversity_share=0), boosts={pid(2): 1.0})
    assert run(req, feats, boosted).items[0].product_id == pid(2)


def test_unknown_products_dropped_and_empty():
    req = RankRequest(
        surface="cart", k=3, candidates=[cand(1, "popular", 1), cand(2, "popular", 1)]
    )
    assert [i.product_id for i in run(req, [feat(2)]).items] == [pid(2)]
    assert run(RankRequest(surface="home", candidates=[]), []).items == []
