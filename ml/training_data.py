"""Training sets for the learned models from the Feast offline store.

    entity_df = build_entity_df(database_url, start, end)       # from events
    frame = training_set(store, entity_df, feature_service="ranking_v1")

Entity rows are (user_id, product_id, event_timestamp, label) built from product
events: label 1 for engagement (click, recommendation_click, add_to_cart, wishlist,
purchase), 0 for exposure without engagement (view, recommendation_impression).

Point-in-time correctness: `get_historical_features` joins, per feature view, the
latest row with feature event_timestamp <= the entity's event_timestamp (and within
the view's ttl); every view row at T is computed from events with ts <= T only
(migration 0002). The entity timestamp is the labelled event's ts minus LABEL_GAP, so
the labelled event itself (and anything later) is never part of its features.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureStore

POSITIVE_TYPES = ("click", "recommendation_click", "add_to_cart", "wishlist", "purchase")
NEGATIVE_TYPES = ("view", "recommendation_impression")
LABEL_GAP = timedelta(milliseconds=1)

_ENTITY_SQL = """
SELECT user_id, product_id, ts - %(gap)s AS event_timestamp,
       (event_type = ANY(%(positive)s))::int AS label
FROM events
WHERE product_id IS NOT NULL
  AND event_type = ANY(%(types)s)
  AND ts > %(start)s AND ts <= %(end)s
ORDER BY ts, event_id
"""


def build_entity_df(
    database_url: str, start: datetime, end: datetime, *, limit: int | None = None
) -> pd.DataFrame:
    """Labelled (user_id, product_id, event_timestamp, label) rows of events in (start, end]."""
    import pandas as pd
    import psycopg

    sql = _ENTITY_SQL + (f" LIMIT {int(limit)}" if limit else "")
    params = {
        "gap": LABEL_GAP,
        "positive": list(POSITIVE_TYPES),
        "types": list(POSITIVE_TYPES + NEGATIVE_TYPES),
        "start": start,
        "end": end,
    }
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(sql, params).fetchall()
    frame = pd.DataFrame(rows, columns=["user_id", "product_id", "event_timestamp", "label"])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame["label"] = frame["label"].astype("int64")
    return frame


def training_set(
    store: FeatureStore,
    entity_df: pd.DataFrame,
    *,
    feature_service: str = "ranking_v1",
    extra_features: list[str] | None = None,
) -> pd.DataFrame:
    """Point-in-time correct features of `feature_service` (plus `extra_features`,
    "view:feature" references) joined to `entity_df`."""
    if extra_features:
        service = store.get_feature_service(feature_service)
        refs = [
            f"{proj.name_to_use()}:{f.name}"
            for proj in service.feature_view_projections
            for f in proj.features
        ]
        features = refs + [r for r in extra_features if r not in refs]
    else:
        features = store.get_feature_service(feature_service)
    job = store.get_historical_features(entity_df=entity_df, features=features)
    frame = job.to_df()
    return frame.sort_values(["event_timestamp", "user_id", "product_id"]).reset_index(drop=True)
