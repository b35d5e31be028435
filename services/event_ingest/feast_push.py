"""Real-time `user_interests` in Feast's online store: after a commit and the Redis
real-time update, the affected users' rows are recomputed from that real-time state
and pushed through Feast's push API (`user_interests_push`, online only).

Pushes are coalesced: the request marks its users dirty and returns; one background
worker takes every dirty user, reads their state in one Redis pipeline and pushes one
DataFrame (`FeatureStore.push` in a thread, so the event loop stays free). Idle, a
user's row is online a few milliseconds after the commit; under load a push covers
every user dirtied while the previous one ran, so pushes never queue up.

A failed push is logged and counted, never an error for the client: the events are
in Postgres and the next push of the user, or `recsys materialize`, repairs the row.
Erasure takes the worker's lock, so a push in flight cannot write back a user's row
after the erasure has deleted it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram
from redis.asyncio import Redis

from services.common.keys import Keys
from services.common.signals import RECENT_ITEMS_CAP, RECENT_QUERIES_CAP, affinity_scale

log = logging.getLogger(__name__)

PUSH_SOURCE = "user_interests_push"
USER_JOIN_KEY = "user_id"
# Dirty users waiting beyond this are dropped (counted): materialisation repairs them.
MAX_PENDING_USERS = 100_000
_RELOAD_AFTER_FAILURE_SECONDS = 30.0

PUSHED_USERS = Counter("recsys_feature_push_users", "User rows pushed to the online store")
PUSH_FAILURES = Counter(
    "recsys_feature_push_failures", "Failed pushes of user_interests rows", ["reason"]
)
PUSH_DURATION = Histogram(
    "recsys_feature_push_duration_seconds",
    "Read of the real-time state plus Feast push, per coalesced push",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def affinity_shares(raw: dict, scale: float) -> tuple[list[str], list[float]]:
    """Stored affinity sums -> (categories, shares) largest first; negatives clipped."""
    decayed = {_text(k): max(float(v) * scale, 0.0) for k, v in raw.items()}
    total = sum(decayed.values())
    if total <= 0.0:
        return [], []
    ranked = sorted(
        ((v / total, k) for k, v in decayed.items() if v > 0.0), key=lambda x: (-x[0], x[1])
    )
    return [k for _, k in ranked], [s for s, _ in ranked]


async def read_interests(
    redis: Redis, keys: Keys, user_ids: list[str], now: datetime
) -> list[dict[str, Any]]:
    """`user_interests` rows from the real-time state, one pipeline; users without any
    state (erased meanwhile) are left out."""
    pipe = redis.pipeline(transaction=False)
    for uid in user_ids:
        pipe.zrevrange(keys.recent_items(uid), 0, RECENT_ITEMS_CAP - 1)
        pipe.lrange(keys.recent_queries(uid), 0, RECENT_QUERIES_CAP - 1)
        pipe.smembers(keys.purchased(uid))
        pipe.hgetall(keys.affinity(uid))
    replies = await pipe.execute()
    scale = affinity_scale(now)
    rows = []
    for i, uid in enumerate(user_ids):
        recent, queries, purchased, affinity = replies[4 * i : 4 * i + 4]
        if not (recent or queries or purchased or affinity):
            continue
        categories, weights = affinity_shares(affinity, scale)
        rows.append(
            {
                USER_JOIN_KEY: uid,
                "recent_items": [_text(v) for v in recent],
                "recent_queries": [_text(v) for v in queries],
                "purchased": sorted(_text(v) for v in purchased),
                "affinity_categories": categories,
                "affinity_weights": weights,
            }
        )
    return rows


def interests_frame(rows: list[dict[str, Any]], ts_field: str, now: datetime):
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame["affinity_weights"] = [np.asarray(w, dtype=np.float32) for w in frame["affinity_weights"]]
    # The push time: newer than any materialised row (stamped with the user's last event
    # of a day), so Feast's write keeps the latest state.
    frame[ts_field] = pd.Timestamp(now)
    return frame


class InterestsPusher:
    def __init__(self, redis: Redis, keys: Keys, load_store: Callable[[], Any]) -> None:
        self.redis, self.keys = redis, keys
        self._load_store = load_store
        self._store: Any = None  # feast.FeatureStore, loaded on first use
        self._ts_field = "event_timestamp"
        self._failed_at = float("-inf")
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.lock = asyncio.Lock()  # held while a push reads state and writes
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self, flush_timeout: float = 5.0) -> None:
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), flush_timeout)
        except TimeoutError:
            log.warning("feast push: pending users dropped at shutdown")
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def mark(self, user_ids: Iterable[str]) -> None:
        """Schedule the users' rows for a push (after their events committed)."""
        if self._task is None:
            return
        for uid in user_ids:
            if len(self._pending) >= MAX_PENDING_USERS:
                PUSH_FAILURES.labels("backlog").inc()
                continue
            self._pending.add(uid)
        self._idle.clear()
        self._wake.set()

    def forget(self, user_id: str) -> None:
        """Erasure: drop a user waiting for a push (call with `lock` held)."""
        self._pending.discard(user_id)

    async def flush(self) -> None:
        """Wait until every user marked so far has been pushed (or failed)."""
        await self._idle.wait()

    async def _run(self) -> None:
        await self._ensure_store()  # load the registry now, not on the first event
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                async with self.lock:
                    users, self._pending = sorted(self._pending), set()
                    await self.push(users)
            self._idle.set()

    async def _ensure_store(self) -> Any:
        if self._store is None:
            if time.monotonic() - self._failed_at < _RELOAD_AFTER_FAILURE_SECONDS:
                return None
            try:
                self._store, self._ts_field = await asyncio.to_thread(self._load)
            except Exception as exc:  # noqa: BLE001 - no registry yet: not fatal
                self._failed_at = time.monotonic()
                log.warning(
                    "feast push: store not available", extra={"error_type": type(exc).__name__}
                )
                return None
        return self._store

    def _load(self) -> tuple[Any, str]:
        store = self._load_store()
        source = store.get_data_source(PUSH_SOURCE)
        return store, source.batch_source.timestamp_field or "event_timestamp"

    async def push(self, user_ids: list[str]) -> int:
        """Push the users' rows now; returns rows pushed. Never raises."""
        started = time.perf_counter()
        store = await self._ensure_store()
        if store is None:
            PUSH_FAILURES.labels("unavailable").inc()
            return 0
        now = datetime.now(UTC)
        try:
            rows = await read_interests(self.redis, self.keys, user_ids, now)
        except Exception as exc:  # noqa: BLE001
            PUSH_FAILURES.labels("redis").inc()
            log.warning("feast push: state read failed", extra={"error_type": type(exc).__name__})
            return 0
        if not rows:
            return 0
        try:
            from feast.data_source import PushMode

            frame = interests_frame(rows, self._ts_field, now)
            await asyncio.to_thread(store.push, PUSH_SOURCE, frame, to=PushMode.ONLINE)
        except Exception as exc:  # noqa: BLE001 - events are durable; never fail a request
            PUSH_FAILURES.labels("push").inc()
            log.warning(
                "feast push failed", extra={"error_type": type(exc).__name__, "users": len(rows)}
            )
            return 0
        PUSHED_USERS.inc(len(rows))
        PUSH_DURATION.observe(time.perf_counter() - started)
        return len(rows)


def online_user_key(project: str, user_id: str, serialization_version: int = 3) -> bytes:
    """The Redis key of Feast's online store for entity user=<user_id> (Feast's own key
    function: serialised entity key + project)."""
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    entity = EntityKey(join_keys=[USER_JOIN_KEY], entity_values=[Value(string_val=user_id)])
    return _redis_key(project, entity, entity_key_serialization_version=serialization_version)
