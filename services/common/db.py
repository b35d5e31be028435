"""Postgres access: one asyncpg pool per process, and versioned SQL migrations."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import orjson

from services.common.errors import ApiError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant works; it serialises concurrent migrators (e.g. two Job pods).
_MIGRATION_LOCK_ID = 7_310_551


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=10
    )


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


def migration_files() -> list[tuple[int, str, Path]]:
    """(version, name, path) sorted by version, from files named NNNN_name.sql."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        found.append((int(version), name, path))
    return found


async def migrate(dsn: str) -> list[int]:
    """Apply pending migrations in order, each in its own transaction. Returns the
    versions applied. Safe to run concurrently and repeatedly."""
    conn = await asyncpg.connect(dsn)
    applied: list[int] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, path in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            log.info("migration applied", extra={"version": version, "migration": name})
            applied.append(version)
        await conn.execute("SELECT ensure_event_partitions(now() - interval '13 months', 4)")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
        await conn.close()
    return applied


# --- pooled access with back-pressure: a saturated or unreachable database answers
# 503 `unavailable` quickly instead of queueing requests without bound.

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


async def check_pool(pool: asyncpg.Pool, timeout: float) -> str:
    try:
        async with connection(pool, timeout) as conn:
            await conn.fetchval("SELECT 1")
        return "ok"
    except ApiError as exc:
        return f"error: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return f"error: {type(exc).__name__}"
