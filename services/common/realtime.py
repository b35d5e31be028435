"""Real-time Redis state derived from events: recent items and queries, purchases,
counts, decayed category affinity, popularity and hourly trending buckets.

One function applies a batch of events; event-ingest calls it after each commit
and `recsys rebuild-realtime` replays Postgres through it, so both always agree.
Commands are aggregated per batch, then sent in one pipeline round trip.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

from services.common.keys import Keys
from services.common.signals import (
    RECENT_ITEMS_CAP,
    RECENT_QUERIES_CAP,
    TRENDING_BUCKET_SECONDS,
    TRENDING_WINDOW_HOURS,
    affinity_growth,
    event_weight,
    hour_bucket,
    trending_bucket_weights,
)


@dataclass(frozen=True, slots=True)
class RealtimeEvent:
    user_id: str
    event_type: str
    ts: datetime
    product_id: str | None = None
    category: str | None = None  # the product's main_category
    query: str | None = None


async def apply_events(
    redis: Redis, keys: Keys, events: list[RealtimeEvent], *, now: datetime | None = None
) -> None:
    if not events:
        return
    now = now or datetime.now(UTC)
    oldest_bucket = hour_bucket(now) - TRENDING_WINDOW_HOURS + 1

    recent: dict[str, dict[str, float]] = defaultdict(dict)
    queries: dict[str, list[str]] = defaultdict(list)
    affinity: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    last_active: dict[str, float] = {}
    purchased: dict[str, set[str]] = defaultdict(set)
    popularity: dict[str, float] = defaultdict(float)
    trending_items: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    trending_cats: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    for ev in sorted(events, key=lambda e: e.ts):
        uid, epoch = ev.user_id, ev.ts.timestamp()
        counts[uid][ev.event_type] += 1
        last_active[uid] = max(last_active.get(uid, 0.0), epoch)
        if ev.query:
            queries[uid].append(ev.query)
        if ev.product_id is None:
            continue
        weight = event_weight(ev.event_type)
        if ev.event_type == "purchase":
            purchased[uid].add(ev.product_id)
        if weight > 0:
            recent[uid][ev.product_id] = epoch
        if weight == 0:
            continue
        growth = affinity_growth(ev.ts)
        popularity[ev.product_id] += weight * growth
        if ev.category:
            affinity[uid][ev.category] += weight * growth
        bucket = hour_bucket(ev.ts)
        if weight > 0 and bucket >= oldest_bucket:
            trending_items[bucket][ev.product_id] += weight
            if ev.category:
                trending_cats[bucket][ev.category] += weight

    pipe = redis.pipeline(transaction=False)
    for uid, items in recent.items():
        key = keys.recent_items(uid)
        pipe.zadd(key, items, gt=True)
        pipe.zremrangebyrank(key, 0, -RECENT_ITEMS_CAP - 1)
    for uid, qs in queries.items():
        key = keys.recent_queries(uid)
        pipe.lpush(key, *qs)
        pipe.ltrim(key, 0, RECENT_QUERIES_CAP - 1)
    for uid, cats in affinity.items():
        key = keys.affinity(uid)
        for cat, value in cats.items():
            pipe.hincrbyfloat(key, cat, value)
    for uid, by_type in counts.items():
        key = keys.counts(uid)
        for event_type, n in by_type.items():
            pipe.hincrby(key, event_type, n)
        pipe.hset(key, "last_active", last_active[uid])
    for uid, items in purchased.items():
        pipe.sadd(keys.purchased(uid), *items)
    for pid, value in popularity.items():
        pipe.zincrby(keys.popularity, value, pid)
    for bucket, items in trending_items.items():
        ttl = (bucket + TRENDING_WINDOW_HOURS) * TRENDING_BUCKET_SECONDS - int(now.timestamp())
        for key, members in (
            (keys.trending_items(bucket), items),
            (keys.trending_categories(bucket), trending_cats.get(bucket, {})),
        ):
            for member, value in members.items():
                pipe.zincrby(key, value, member)
            pipe.expire(key, max(ttl, 60))
    await pipe.execute()


async def trending_scores(
    redis: Redis, keys: Keys, *, categories: bool = False, now: datetime | None = None
) -> dict[str, float]:
    """Time-decayed trending score per product (or per main_category), summed over
    the hourly buckets of the window with weights 2^(-age/half-life), in one ZUNION."""

    weights = trending_bucket_weights(now or datetime.now(UTC))
    key_of = keys.trending_categories if categories else keys.trending_items
    rows = await redis.zunion({key_of(b): w for b, w in weights.items()}, withscores=True)
    return {(m.decode() if isinstance(m, bytes) else m): float(s) for m, s in rows}
