"""Feast definitions of the recsys feature store: the contract of docs/feature-store.md.

Batch sources are the Postgres views of services/common/migrations/0002_feature_views.sql;
`user_interests` and `product_stats` also accept real-time rows through push sources
(event-ingest pushes user interests after each commit; `recsys materialize` pushes
Redis popularity/trending).

Applied by `recsys feast-apply` (ml.feature_store.apply) or `feast -c feature_repo apply`.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, PushSource, ValueType
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)
from feast.types import Array, Bool, Float32, Float64, Int64, String

# Postgres view -> its entity key column (used by ml.feature_store to count rows;
# feast_user_snapshots has the rows of feast_user_interests without computing them).
BATCH_VIEWS = {
    "feast_user_activity": "user_id",
    "feast_user_snapshots": "user_id",
    "feast_product_catalog": "product_id",
    "feast_product_stats": "product_id",
}

user = Entity(
    name="user",
    join_keys=["user_id"],
    value_type=ValueType.STRING,
    description="A shopper (events.user_id).",
)
product = Entity(
    name="product",
    join_keys=["product_id"],
    value_type=ValueType.STRING,
    description="A catalog product (products.product_id, ASIN-like).",
)


def _source(view: str) -> PostgreSQLSource:
    return PostgreSQLSource(
        name=view,
        table=view,
        timestamp_field="event_timestamp",
        description=f"Postgres view {view} (migration 0002).",
    )


user_activity_source = _source("feast_user_activity")
user_interests_source = _source("feast_user_interests")
product_catalog_source = _source("feast_product_catalog")
product_stats_source = _source("feast_product_stats")

user_interests_push = PushSource(name="user_interests_push", batch_source=user_interests_source)
product_stats_push = PushSource(name="product_stats_push", batch_source=product_stats_source)

user_activity = FeatureView(
    name="user_activity",
    entities=[user],
    ttl=timedelta(days=30),
    online=True,
    source=user_activity_source,
    schema=[
        Field(name="views_7d", dtype=Int64),
        Field(name="clicks_7d", dtype=Int64),
        Field(name="add_to_carts_7d", dtype=Int64),
        Field(name="purchases_7d", dtype=Int64),
        Field(name="searches_7d", dtype=Int64),
        Field(name="events_1d", dtype=Int64),
        Field(name="events_7d", dtype=Int64),
        Field(name="events_30d", dtype=Int64),
        Field(name="purchases_30d", dtype=Int64),
        Field(name="last_active_ts", dtype=Int64),
    ],
    description="Windowed event counts per user, one snapshot per active day.",
)

user_interests = FeatureView(
    name="user_interests",
    entities=[user],
    ttl=timedelta(days=90),
    online=True,
    source=user_interests_push,
    schema=[
        Field(name="recent_items", dtype=Array(String)),
        Field(name="recent_queries", dtype=Array(String)),
        Field(name="purchased", dtype=Array(String)),
        Field(name="affinity_categories", dtype=Array(String)),
        Field(name="affinity_weights", dtype=Array(Float32)),
    ],
    description="Recent items/queries, purchases and decayed category affinity shares.",
)

product_catalog = FeatureView(
    name="product_catalog",
    entities=[product],
    ttl=timedelta(0),  # no expiry: the catalog row is valid until updated
    online=True,
    source=product_catalog_source,
    schema=[
        Field(name="name", dtype=String),
        Field(name="main_category", dtype=String),
        Field(name="sub_category", dtype=String),
        Field(name="image", dtype=String),
        Field(name="price", dtype=Float64),
        Field(name="actual_price", dtype=Float64),
        Field(name="discount_ratio", dtype=Float32),
        Field(name="rating", dtype=Float32),
        Field(name="no_of_ratings", dtype=Int64),
        Field(name="in_stock", dtype=Bool),
    ],
    description="Catalog attributes (event_timestamp = products.updated_at).",
)

product_stats = FeatureView(
    name="product_stats",
    entities=[product],
    ttl=timedelta(days=7),
    online=True,
    source=product_stats_push,
    schema=[
        Field(name="popularity", dtype=Float32),
        Field(name="trending", dtype=Float32),
        Field(name="interactions_7d", dtype=Int64),
    ],
    description="Popularity and trending (share of the max) and 7-day interactions.",
)

ranking_v1 = FeatureService(
    name="ranking_v1", features=[product_catalog, product_stats, user_interests]
)
candidate_gen_v1 = FeatureService(
    name="candidate_gen_v1", features=[user_interests, user_activity, product_stats]
)


def objects() -> list:
    """Everything `apply` registers."""
    return [
        user,
        product,
        user_activity_source,
        user_interests_source,
        product_catalog_source,
        product_stats_source,
        user_interests_push,
        product_stats_push,
        user_activity,
        user_interests,
        product_catalog,
        product_stats,
        ranking_v1,
        candidate_gen_v1,
    ]
