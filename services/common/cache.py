"""Redis connection helper (redis-py asyncio, one pooled client per process)."""

from __future__ import annotations

import redis.asyncio as aioredis


def create_redis(
    url: str, *, max_connections: int = 50, socket_timeout: float = 1.0
) -> aioredis.Redis:
    # A blocking pool makes a burst wait (up to socket_timeout) for a free connection;
    # the default pool raises MaxConnectionsError at once, a 503 under load.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=1.0,
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes it


async def ping(client: aioredis.Redis) -> str:
    try:
        await client.ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return f"error: {type(exc).__name__}"
