"""Bulk loading of the synthetic data set into Postgres, and the rebuild of the
real-time Redis state from Postgres.

Loading uses COPY (asyncpg `copy_records_to_table`) into `products`, `events` and
the `event_ids` ledger. The rebuild replays all events, in ts order, through
`services.common.realtime.apply_events`: the same function event-ingest uses, so a
rebuilt Redis equals the state live ingestion would have produced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from redis.asyncio import Redis

from ml.catalog import PRODUCT_COLUMNS, _decimal
from ml.synthetic import SOURCE, SyntheticData
from services.common.db import connect
from services.common.keys import Keys
from services.common.realtime import RealtimeEvent, apply_events

Progress = Callable[[str, int], None]  # (stage, items done)

EVENT_ID_PREFIX = "syn-"
_EVENT_COLUMNS = ("event_id", "user_id", "event_type", "product_id", "query", "ts")


@dataclass
class LoadStats:
    products: int = 0
    events: int = 0
    seconds: float = 0.0


async def synthetic_counts(conn: asyncpg.Connection) -> tuple[int, int]:
    """(synthetic products, synthetic events) already in the database."""
    products = await conn.fetchval("SELECT count(*) FROM products WHERE source = $1", SOURCE)
    events = await conn.fetchval(
        "SELECT count(*) FROM event_ids WHERE event_id LIKE $1", EVENT_ID_PREFIX + "%"
    )
    return products, events


async def clear_synthetic(conn: asyncpg.Connection) -> None:
    """Remove earlier synthetic data (and only it: imported or ingested rows stay)."""
    others = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM event_ids WHERE event_id NOT LIKE $1)",
        EVENT_ID_PREFIX + "%",
    )
    async with conn.transaction():
        if others:
            pattern = EVENT_ID_PREFIX + "%"
            await conn.execute("DELETE FROM events WHERE event_id LIKE $1", pattern)
            await conn.execute("DELETE FROM event_ids WHERE event_id LIKE $1", pattern)
        else:  # only synthetic events: TRUNCATE is far faster than DELETE
            await conn.execute("TRUNCATE events, event_ids")
        await conn.execute("DELETE FROM products WHERE source = $1", SOURCE)


def _product_records(data: SyntheticData) -> list[tuple]:
    return [
        (
            p.product_id,
            p.name,
            p.main_category,
            p.sub_category,
            [p.sub_category],
            p.image,
            p.link,
            p.rating,
            p.no_of_ratings,
            _decimal(p.price),
            _decimal(p.actual_price),
            p.discount_ratio,
            p.in_stock,
            SOURCE,
        )
        for p in data.products
    ]


async def load_synthetic(
    dsn: str, data: SyntheticData, *, progress: Progress | None = None
) -> LoadStats:
    """Replace the synthetic rows with `data` in one transaction."""
    started = time.perf_counter()
    conn = await connect(dsn)
    try:
        await clear_synthetic(conn)
        events = data.event_records()
        async with conn.transaction():
            await conn.copy_records_to_table(
                "products", records=_product_records(data), columns=PRODUCT_COLUMNS
            )
            if progress:
                progress("products", len(data.products))
            await conn.copy_records_to_table("events", records=events, columns=_EVENT_COLUMNS)
            if progress:
                progress("events", len(events))
            await conn.copy_records_to_table(
                "event_ids",
                records=[(e[0], e[1], e[5]) for e in events],
                columns=("event_id", "user_id", "ts"),
            )
            if progress:
                progress("event_ids", len(events))
        await conn.execute("ANALYZE products, events, event_ids")
    finally:
        await conn.close()
    return LoadStats(len(data.products), len(events), time.perf_counter() - started)


# --------------------------------------------------------------------------- realtime


async def clear_realtime(redis: Redis, keys: Keys) -> int:
    """SCAN + UNLINK every derived real-time key under the prefix. Returns keys removed."""
    removed = 0
    for pattern in keys.derived_patterns():
        batch: list[bytes] = []
        async for key in redis.scan_iter(match=pattern, count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                removed += await redis.unlink(*batch)
                batch = []
        if batch:
            removed += await redis.unlink(*batch)
    return removed


@dataclass
class RebuildStats:
    keys_removed: int = 0
    events: int = 0
    seconds: float = 0.0


_REPLAY_SQL = """
SELECT e.user_id, e.event_type, e.ts, e.product_id, p.main_category, e.query
FROM events e LEFT JOIN products p ON p.product_id = e.product_id
ORDER BY e.ts, e.event_id
"""


async def rebuild_realtime(
    dsn: str,
    redis: Redis,
    keys: Keys,
    *,
    chunk_size: int = 50_000,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> RebuildStats:
    """Delete the derived keys, then replay Postgres events in ts order through
    apply_events, one chunk per pipeline round trip."""
    started = time.perf_counter()
    stats = RebuildStats(keys_removed=await clear_realtime(redis, keys))
    conn = await connect(dsn)
    try:
        async with conn.transaction(readonly=True, isolation="repeatable_read"):
            cursor = await conn.cursor(_REPLAY_SQL)
            while rows := await cursor.fetch(chunk_size):
                events = [RealtimeEvent(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
                await apply_events(redis, keys, events, now=now)
                stats.events += len(events)
                if progress:
                    progress("events", stats.events)
    finally:
        await conn.close()
    stats.seconds = time.perf_counter() - started
    return stats


async def count_events(dsn: str) -> int:
    conn = await connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await conn.close()
