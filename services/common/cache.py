"""Redis connection helper (redis-py asyncio, one pooled client per process)."""

from __future__ import annotations

import redis.asyncio as aioredis


def create_redis(
    url: str, *, max_connections: int = 50, socket_timeout: float = 1.0
) -> aioredis.Redis:
    return aioredis.from_url(
        url,
        max_connections=max_connections,
        socket_timeout=socket_timeout,
        socket_connect_timeout=1.0,
        health_check_interval=30,
    )


async def ping(client: aioredis.Redis) -> str:
    try:
        await client.ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return f"error: {type(exc).__name__}"
