"""Decoding of Feast's stored values and the mapping to the feature contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("feast")

from feast.protos.feast.types.Value_pb2 import (  # noqa: E402
    BoolList,
    FloatList,
    Null,
    StringList,
)
from feast.protos.feast.types.Value_pb2 import Value as V  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402

from services.feature_serving.feast_store import (  # noqa: E402
    decode_ts,
    decode_value,
    item_from_values,
    user_from_values,
)


def raw(value: V) -> bytes:
    return value.SerializeToString()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (V(string_val="tv"), "tv"),
        (V(int64_val=12), 12),
        (V(double_val=80.5), 80.5),
        (V(float_val=4.1), 4.1),  # float32 4.099999904632324, rounded to 6 decimals
        (V(bool_val=False), False),
        (V(string_list_val=StringList(val=["a", "b"])), ["a", "b"]),
        (V(float_list_val=FloatList(val=[0.7, 0.3])), [0.7, 0.3]),
        (V(bool_list_val=BoolList(val=[True])), [True]),
        (V(string_list_val=StringList(val=[])), []),
        (V(null_val=Null.NULL), None),
        (V(), None),
    ],
)
def test_decode_value(value, expected):
    assert decode_value(raw(value)) == expected


def test_decode_absent_value_and_ts():
    assert decode_value(None) is None and decode_value(b"") is None
    assert decode_ts(None) is None
    ts = Timestamp(seconds=1_700_000_000, nanos=500_000_000)
    assert decode_ts(ts.SerializeToString()) == datetime.fromtimestamp(1_700_000_000.5, UTC)


def test_user_without_rows_is_unknown():
    user = user_from_values("u1", {}, None, {}, None)
    assert user.known is False and user.recent_items == [] and user.last_active is None


def test_user_mapping():
    t = datetime(2026, 11, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    interests = {
        "recent_items": ["B", "A"],
        "recent_queries": ["q"],
        "purchased": ["Z", "B"],
        "affinity_categories": ["audio", "tv", "home"],
        "affinity_weights": [0.25, 0.75, 0.0],
    }
    activity = {
        "views_7d": 3, "clicks_7d": 0, "add_to_carts_7d": None, "purchases_7d": 1,
        "searches_7d": 2, "events_30d": 40, "last_active_ts": int(t.timestamp()),
    }  # fmt: skip
    user = user_from_values("u1", interests, t, activity, t)
    assert user.known is True
    assert user.recent_items == ["B", "A"] and user.purchased == ["B", "Z"]
    assert list(user.category_affinity.items()) == [("tv", 0.75), ("audio", 0.25)]
    # 7-day counts by event type; zero and absent counts are left out
    assert user.event_counts == {"view": 3, "purchase": 1, "search": 2}
    # last_active_ts is whole seconds: the exact row time of the same event wins
    assert user.last_active == t


def test_last_active_takes_the_later_push():
    t = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    pushed = t + timedelta(hours=2)
    user = user_from_values("u1", {}, pushed, {"last_active_ts": int(t.timestamp())}, t)
    assert user.last_active == pushed
    only_activity = user_from_values("u1", {}, None, {"last_active_ts": int(t.timestamp())}, t)
    assert only_activity.known is True and only_activity.last_active == t
    stale_interests = user_from_values(
        "u1", {}, t - timedelta(days=1), {"last_active_ts": int(t.timestamp())}, t
    )
    assert stale_interests.last_active == t


def test_item_mapping_defaults():
    item = item_from_values(
        "P1",
        {"name": "n", "main_category": "tv", "sub_category": "s", "image": "", "price": None,
         "in_stock": False, "no_of_ratings": 4},
        {"popularity": 0.5},
    )  # fmt: skip
    assert item.image is None and item.price is None and item.in_stock is False
    assert (item.popularity, item.trending, item.no_of_ratings) == (0.5, 0.0, 4)
