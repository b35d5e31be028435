"""Periodic background work of a service (catalog refresh, index rebuilds)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


async def refresh_forever(
    interval: float, refresh: Callable[[], Awaitable[None]], *, what: str = "refresh"
) -> None:
    """Run `refresh` every `interval` seconds; failures are logged, never fatal, so the
    service keeps serving what it loaded last."""
    while True:
        await asyncio.sleep(interval)
        try:
            await refresh()
        except Exception as exc:  # noqa: BLE001
            log.warning(f"{what} failed", extra={"error_type": type(exc).__name__})


@contextlib.asynccontextmanager
async def background(coro: Awaitable[None]) -> AsyncIterator[asyncio.Task]:
    """Run `coro` as a task for the lifetime of the block, cancelled on exit."""
    task = asyncio.ensure_future(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def kept_fresh(
    load: Callable[[], Awaitable[None]], every: float, *, what: str
) -> AsyncIterator[None]:
    """Run `load` now, then every `every` seconds in the background while the block
    runs. A failed first load is logged, not raised: callers complete on demand."""
    try:
        await load()
    except Exception as exc:  # noqa: BLE001
        log.warning(f"{what} failed", extra={"error_type": type(exc).__name__})
    async with background(refresh_forever(every, load, what=what)):
        yield
