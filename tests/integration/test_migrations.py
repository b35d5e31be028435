import asyncpg

from services.common.db import migrate, migration_files


async def test_migrations_are_recorded_and_idempotent(pg_url):
    assert await migrate(pg_url) == []  # the fixture already applied everything
    conn = await asyncpg.connect(pg_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert versions == [v for v, _, _ in migration_files()]
        parts = await conn.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
        )
        assert parts >= 14  # 13 months back, this month, months ahead, and default
    finally:
        await conn.close()


async def test_event_partition_routes_by_month(pg_url):
    conn = await asyncpg.connect(pg_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO events (event_id, user_id, event_type, product_id, ts)"
                " VALUES ('e-part-1', 'u1', 'view', 'B000000001', now())"
            )
            table = await conn.fetchval(
                "SELECT tableoid::regclass::text FROM events WHERE event_id = 'e-part-1'"
            )
            assert table.startswith("events_20")
            raise asyncpg.exceptions.RaiseError  # roll back
    except asyncpg.exceptions.RaiseError:
        pass
    finally:
        await conn.close()
