import re
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from ml.synthetic import SyntheticConfig, generate, product_id_for
from ml.taxonomy import COMPLEMENTS, TAXONOMY
from services.common.contracts import (
    PRODUCT_EVENT_TYPES,
    PRODUCT_ID_PATTERN,
    USER_ID_PATTERN,
    Event,
    EventType,
)

# Relative to today: events must stay inside the API's accepted time window.
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
CFG = SyntheticConfig(seed=7, n_products=600, n_users=400, days=30, end=END)


@pytest.fixture(scope="module")
def data():
    return generate(CFG)


def test_deterministic_for_a_seed(data):
    again = generate(CFG)
    assert again.event_ids == data.event_ids
    assert again.user_ids == data.user_ids and again.product_ids == data.product_ids
    assert again.ts_ms == data.ts_ms
    assert [p.name for p in again.products] == [p.name for p in data.products]
    other = generate(SyntheticConfig(seed=8, n_products=600, n_users=400, days=30, end=END))
    assert other.product_ids != data.product_ids


def test_sizes_and_taxonomy(data):
    assert len(data.products) == 600 and len(data.users) == 400
    assert data.n_events > 10 * len(data.users)
    assert 10 <= len(TAXONOMY) <= 12
    assert all(4 <= len(m.subs) <= 8 for m in TAXONOMY)
    assert len({p.main_category for p in data.products}) == len(TAXONOMY)
    out_of_stock = sum(not p.in_stock for p in data.products) / len(data.products)
    assert 0.0 < out_of_stock < 0.08


def test_ids_and_values_satisfy_contracts(data):
    pid_re, uid_re = re.compile(PRODUCT_ID_PATTERN), re.compile(USER_ID_PATTERN)
    ids = [p.product_id for p in data.products]
    assert len(set(ids)) == len(ids) and all(pid_re.match(i) for i in ids)
    assert product_id_for(0) == "S000000000" and product_id_for(36) == "S000000010"
    assert all(uid_re.match(u) for u in data.users) and data.users[0] == "u000001"
    assert len(set(data.event_ids)) == data.n_events
    known = set(ids)
    for p in data.products:
        assert 0 < p.price <= p.actual_price and 0 <= p.discount_ratio <= 1
        assert p.rating is None or 1 <= p.rating <= 5
        assert p.complement is None or p.complement in known
    types = {t.value for t in EventType}
    for i in range(0, data.n_events, 97):  # a sample through the pydantic contract
        Event(
            event_id=data.event_ids[i],
            user_id=data.user_ids[i],
            event_type=data.event_types[i],
            product_id=data.product_ids[i],
            query=data.queries[i],
            ts=datetime.fromtimestamp(data.ts_ms[i] / 1000, UTC),
        )
    assert set(data.event_types) <= types
    for etype, pid in zip(data.event_types, data.product_ids, strict=True):
        assert (pid is not None) == (etype in PRODUCT_EVENT_TYPES)
        assert pid is None or pid in known


def test_timestamps_sorted_within_window(data):
    assert data.ts_ms == sorted(data.ts_ms)
    start = (END.timestamp() - 30 * 86400) * 1000
    assert start <= data.ts_ms[0] and data.ts_ms[-1] < END.timestamp() * 1000


def test_funnel_order_within_sessions(data):
    first: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    for n, (s, etype, pid) in enumerate(
        zip(data.sessions, data.event_types, data.product_ids, strict=True)
    ):
        if pid is not None:
            first[(s, pid)].setdefault(etype, n)
    funnel = ["view", "click", "add_to_cart", "purchase"]
    purchases = 0
    for steps in first.values():
        present = [steps[t] for t in funnel if t in steps]
        assert present == sorted(present)
        if "purchase" in steps:
            purchases += 1
            assert all(t in steps for t in funnel)
        if "remove_from_cart" in steps:
            assert steps["add_to_cart"] < steps["remove_from_cart"]
    assert purchases > 0


def test_co_purchase_pairs_present(data):
    by_id = {p.product_id: p for p in data.products}
    bought: dict[int, set[str]] = defaultdict(set)
    for s, etype, pid in zip(data.sessions, data.event_types, data.product_ids, strict=True):
        if etype in ("add_to_cart", "purchase"):
            bought[s].add(pid)
    designated = sub_pairs = 0
    for items in bought.values():
        subs = {by_id[i].sub_category for i in items}
        for i in items:
            p = by_id[i]
            designated += p.complement in items
            sub_pairs += any(c in subs for c in COMPLEMENTS.get(p.sub_category, ()))
    assert designated >= 20 and sub_pairs >= designated
    # searches name the sub-category the session then browses
    assert any(q and "earbuds" in q for q in data.queries) or any(
        q and "headphones" in q for q in data.queries
    )
