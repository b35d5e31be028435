"""A tiny hand-made catalog and interaction set (numbers in the tests are computed
by hand from these rows)."""

from __future__ import annotations

import numpy as np
import pytest

from services.candidate_gen.indexes import (
    Catalog,
    IndexParams,
    Interactions,
    build_indexes,
)

PRODUCTS = [
    # id, name, main, sub, rating, n_ratings, discount, in_stock
    (
        "P0000000A1",
        "Wireless Bluetooth Earphones with Mic",
        "Electronics",
        "Headphones",
        4.5,
        100,
        0.5,
        True,
    ),
    (
        "P0000000A2",
        "Noise Cancelling Over Ear Headphones",
        "Electronics",
        "Headphones",
        4.0,
        50,
        0.2,
        True,
    ),
    (
        "P0000000A3",
        "Smart LED Television 43 inch",
        "Electronics",
        "Televisions",
        4.2,
        200,
        0.35,
        True,
    ),
    ("P0000000A4", "Running Shoes for Men", "Fashion", "Shoes", 3.9, 80, 0.6, True),
    ("P0000000A5", "Leather Wallet for Men", "Fashion", "Accessories", 4.8, 10, 0.1, True),
    ("P0000000A6", "Gaming Laptop 16GB RAM", "Electronics", "Laptops", 4.6, 30, 0.15, True),
    ("P0000000A7", "Silicone Phone Case", "Electronics", "Mobile Accessories", None, 0, None, True),
    ("P0000000A8", "Headphones Stand Aluminium", "Electronics", "Headphones", 4.9, 500, 0.9, False),
]

# user -> items (all positive weight 1 unless listed in NEGATIVE)
BASKETS = {
    "u1": ["P0000000A1", "P0000000A2", "P0000000A3"],
    "u2": ["P0000000A1", "P0000000A2"],
    "u3": ["P0000000A1", "P0000000A2", "P0000000A4"],
    "u4": ["P0000000A3", "P0000000A4"],
    "u5": ["P0000000A5"],
}
NEGATIVE = [("u6", "P0000000A6", -1.0)]  # removed from cart only: not a transaction


def make_catalog() -> Catalog:
    rows = [
        dict(
            product_id=p,
            name=n,
            main_category=m,
            sub_category=s,
            rating=r,
            no_of_ratings=c,
            discount_ratio=d,
            in_stock=st,
            price=100.0,
            image=None,
        )
        for p, n, m, s, r, c, d, st in PRODUCTS
    ]
    return Catalog.from_rows(rows)


def make_interactions() -> Interactions:
    users, items, weights = [], [], []
    for user, basket in BASKETS.items():
        for item in basket:
            users.append(user)
            items.append(item)
            weights.append(1.0)
    for user, item, w in NEGATIVE:
        users.append(user)
        items.append(item)
        weights.append(w)
    return Interactions(users, items, np.array(weights))


PARAMS = IndexParams(
    assoc_min_count=1,
    assoc_min_confidence=0.0,
    assoc_min_lift=1.0,
    assoc_top_n=10,
    bayes_prior_count=25.0,
    top_category_size=10,
)


@pytest.fixture(scope="module")
def ix():
    return build_indexes(make_catalog(), make_interactions(), PARAMS)
