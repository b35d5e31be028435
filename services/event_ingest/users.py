"""A user's event history and erasure (DESIGN section 13)."""

from __future__ import annotations

import asyncpg
from redis.asyncio import Redis

from services.common.contracts import HistoryEvent
from services.common.keys import Keys

_HISTORY = """
SELECT event_id, event_type, product_id, query, ts
FROM events
WHERE user_id = $1 AND ts >= now() - make_interval(days => $2)
ORDER BY ts DESC, event_id
LIMIT $3
"""


async def history(
    conn: asyncpg.Connection, user_id: str, days: int, limit: int
) -> list[HistoryEvent]:
    rows = await conn.fetch(_HISTORY, user_id, days, limit)
    return [HistoryEvent(**dict(r)) for r in rows]


async def erase_rows(conn: asyncpg.Connection, user_id: str) -> int:
    """Delete the user's events and ledger rows and record the erasure, atomically."""
    async with conn.transaction():
        status = await conn.execute("DELETE FROM events WHERE user_id = $1", user_id)
        await conn.execute("DELETE FROM event_ids WHERE user_id = $1", user_id)
        deleted = int(status.rsplit(" ", 1)[-1])
        await conn.execute(
            "INSERT INTO erasures (user_id, events_deleted) VALUES ($1, $2)", user_id, deleted
        )
    return deleted


async def erase_keys(redis: Redis, keys: Keys, user_id: str) -> int:
    """Delete every real-time key of the user: the known ones and any other under
    the user's prefix (SCAN, so keys added later are not forgotten)."""
    found = set(keys.user_keys(user_id))
    async for key in redis.scan_iter(match=keys.user_pattern(user_id), count=500):
        found.add(key.decode() if isinstance(key, bytes) else key)
    return int(await redis.delete(*found)) if found else 0


async def erase_online_features(redis: Redis, project: str, user_id: str) -> int:
    """Delete the user's row of Feast's online store (entity user=<id> of `project`)."""
    from services.event_ingest.feast_push import online_user_key

    return int(await redis.delete(online_user_key(project, user_id)))
