"""Degraded mode: a precomputed trending/popular list served when candidate-gen or ranking
cannot answer.

candidate-gen writes the list to Redis (`keys.fallback_items`, a JSON list of RankedItem).
The gateway re-reads it in the background and keeps the last good copy in memory, so the
fallback still works while Redis itself is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

import orjson
from pydantic import TypeAdapter, ValidationError

from services.common.contracts import RankedItem

log = logging.getLogger(__name__)

_ITEMS = TypeAdapter(list[RankedItem])
DEFAULT_REASON = "popular"
# A request that finds the list empty may re-read Redis, but at most this often.
_ON_DEMAND_INTERVAL = 1.0
_ON_DEMAND_TIMEOUT = 0.2


def select_fallback(
    items: list[RankedItem], k: int, exclude: Iterable[str] = ()
) -> list[RankedItem]:
    """The first k items not in `exclude` (the context products), positions 1..k."""
    excluded = set(exclude)
    chosen: list[RankedItem] = []
    for item in items:  # bounded by the list's length (hundreds), not the catalog
        if item.product_id in excluded:
            continue
        excluded.add(item.product_id)  # a duplicate in the list must not appear twice
        chosen.append(
            item.model_copy(
                update={
                    "position": len(chosen) + 1,
                    "reasons": item.reasons or [DEFAULT_REASON],
                }
            )
        )
        if len(chosen) == k:
            break
    return chosen


def parse_items(raw: bytes | str) -> list[RankedItem]:
    """Decode the Redis value; raises ValueError on anything that is not a RankedItem list."""
    try:
        return _ITEMS.validate_python(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ValueError(f"bad fallback list: {exc}") from exc


class FallbackStore:
    def __init__(self, redis, key: str, refresh_seconds: float = 30.0) -> None:
        self._redis, self._key, self._interval = redis, key, refresh_seconds
        self.items: list[RankedItem] = []
        self.loaded_at: float | None = None
        self._last_attempt = 0.0
        self._task: asyncio.Task | None = None

    async def refresh(self) -> bool:
        """Re-read the list; on any failure keep the previous copy. True when it loaded."""
        self._last_attempt = time.monotonic()
        try:
            raw = await self._redis.get(self._key)
        except Exception as exc:  # noqa: BLE001 - Redis down: keep serving the last copy
            log.warning("fallback list refresh failed", extra={"error": type(exc).__name__})
            return False
        if raw is None:
            log.warning("fallback list missing in redis", extra={"key": self._key})
            return False
        try:
            items = parse_items(raw)
        except ValueError as exc:
            log.error("fallback list unreadable", extra={"error": str(exc)[:200]})
            return False
        if not items:
            return False  # an empty list is never better than the last good one
        self.items, self.loaded_at = items, time.time()
        return True

    async def select(self, k: int, exclude: Iterable[str] = ()) -> list[RankedItem]:
        if not self.items and time.monotonic() - self._last_attempt >= _ON_DEMAND_INTERVAL:
            # e.g. the list was written after the gateway started; bounded, since this
            # runs on a request that is already degraded.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.refresh(), timeout=_ON_DEMAND_TIMEOUT)
        return select_fallback(self.items, k, exclude)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.refresh()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="fallback-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
