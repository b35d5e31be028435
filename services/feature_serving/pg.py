"""Pooled Postgres access with back-pressure: a saturated or unreachable database
answers 503 `unavailable` quickly instead of queueing requests without bound."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from services.common.errors import ApiError

log = logging.getLogger(__name__)

# Failures of the database itself (not of the request): the client may retry.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InsufficientResourcesError,
)


@asynccontextmanager
async def connection(pool: asyncpg.Pool, timeout: float) -> AsyncIterator[asyncpg.Connection]:
    try:
        conn = await pool.acquire(timeout=timeout)
    except TimeoutError:
        raise ApiError(503, "unavailable", "database busy, retry later") from None
    except UNAVAILABLE_ERRORS as exc:
        log.warning("postgres unavailable", extra={"error_type": type(exc).__name__})
        raise ApiError(503, "unavailable", "database unavailable, retry later") from None
    try:
        yield conn
    except UNAVAILABLE_ERRORS as exc:
        log.warning("postgres failure", extra={"error_type": type(exc).__name__})
        raise ApiError(503, "unavailable", "database unavailable, retry later") from None
    finally:
        await pool.release(conn)


async def check(pool: asyncpg.Pool, timeout: float) -> str:
    try:
        async with connection(pool, timeout) as conn:
            await conn.fetchval("SELECT 1")
        return "ok"
    except ApiError as exc:
        return f"error: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return f"error: {type(exc).__name__}"
