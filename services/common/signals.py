"""Data rules shared by ingest, feature serving and training (DESIGN section 6).

Event weights, the recency decay of user interests, and the hourly buckets of
the trending score. One place, so the real-time path and batch rebuilds agree.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from services.common.contracts import EventType

EVENT_WEIGHTS: dict[str, float] = {
    EventType.purchase: 5.0,
    EventType.add_to_cart: 3.0,
    EventType.wishlist: 2.0,
    EventType.recommendation_click: 1.5,
    EventType.click: 1.0,
    EventType.view: 1.0,
    EventType.remove_from_cart: -1.0,
    EventType.search: 0.0,
    EventType.recommendation_impression: 0.0,
}

AFFINITY_DECAY_DAYS = 30.0
# Affinity is stored as weight * exp((ts - EPOCH) / tau) so that a running sum in
# Redis (HINCRBYFLOAT) decays without rewrites: multiplying the sum by
# exp(-(now - EPOCH) / tau) at read time gives sum(weight * exp(-age / tau)).
AFFINITY_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

TRENDING_BUCKET_SECONDS = 3600
TRENDING_WINDOW_HOURS = 48
TRENDING_HALF_LIFE_HOURS = 12.0

RECENT_ITEMS_CAP = 50
RECENT_QUERIES_CAP = 10


def event_weight(event_type: str) -> float:
    return EVENT_WEIGHTS.get(event_type, 0.0)


def recency_decay(age_days: float) -> float:
    """exp(-age/30d): the weight of an interaction `age_days` old."""
    return math.exp(-max(age_days, 0.0) / AFFINITY_DECAY_DAYS)


def affinity_growth(ts: datetime) -> float:
    """The factor stored with an event at `ts` (see AFFINITY_EPOCH)."""
    return math.exp((ts - AFFINITY_EPOCH).total_seconds() / 86400.0 / AFFINITY_DECAY_DAYS)


def affinity_scale(now: datetime) -> float:
    """Multiply a stored affinity sum by this to get the decayed value at `now`."""
    return 1.0 / affinity_growth(now)


def hour_bucket(ts: datetime) -> int:
    return int(ts.timestamp()) // TRENDING_BUCKET_SECONDS


def trending_bucket_weights(now: datetime) -> dict[int, float]:
    """Hour bucket -> weight 2^(-age/half-life) over the trending window."""
    current = hour_bucket(now)
    return {
        current - age: 0.5 ** (age / TRENDING_HALF_LIFE_HOURS)
        for age in range(TRENDING_WINDOW_HOURS)
    }
