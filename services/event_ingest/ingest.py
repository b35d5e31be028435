"""Durable, idempotent event writes, then real-time Redis updates.

An event is acknowledged only after its transaction commits (DESIGN section 6).
`event_ids` is the idempotency ledger (events is partitioned by ts, so it cannot
carry a unique event_id index itself): one INSERT ... ON CONFLICT DO NOTHING
RETURNING tells which events are new, and only those go into `events`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson
from prometheus_client import Counter, Histogram
from redis.asyncio import Redis

from services.common.contracts import Event, IngestResult
from services.common.errors import ApiError
from services.common.keys import Keys
from services.common.realtime import RealtimeEvent, apply_events
from services.event_ingest.catalog import CategoryMap
from services.event_ingest.parsing import event_field

log = logging.getLogger(__name__)

EVENTS_INGESTED = Counter(
    "recsys_events_ingested", "Events durably written (new, not duplicates)", ["event_type"]
)
EVENTS_DUPLICATE = Counter("recsys_events_duplicate", "Events whose event_id was already stored")
REALTIME_FAILURES = Counter(
    "recsys_realtime_update_failures", "Committed event batches whose Redis update failed"
)
EVENTS_REJECTED = Counter(
    "recsys_events_rejected", "Event requests refused with a 4xx, per error code", ["reason"]
)
# Receipt time minus the client's event ts (events sent without ts have no lag to measure).
EVENT_LAG = Histogram(
    "recsys_event_lag_seconds",
    "Receipt time minus event ts",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 6 * 3600, 24 * 3600),
)
INTERACTIONS = Counter(
    "recsys_recommendation_interactions",
    "Recommendation impressions and clicks, per experiment variant",
    ["event_type", "variant"],
)
_INTERACTION_TYPES = {
    "recommendation_impression": "impression",
    "recommendation_click": "click",
}
OTHER_VARIANT = "other"

_INSERT_IDS = """
INSERT INTO event_ids (event_id, user_id, ts)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""
_INSERT_EVENTS = """
INSERT INTO events
    (event_id, user_id, event_type, product_id, query, ts, request_id, variant, properties)
SELECT e, u, t, p, q, ts, r, v, props::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
            $6::timestamptz[], $7::text[], $8::text[], $9::text[])
    AS x(e, u, t, p, q, ts, r, v, props)
"""


@dataclass(frozen=True, slots=True)
class Row:
    event_id: str
    user_id: str
    event_type: str
    product_id: str | None
    query: str | None
    ts: datetime
    request_id: str | None
    variant: str | None
    properties: str  # JSON text
    stamped: bool = False  # ts came from the client (not the receipt time)


def to_rows(events: list[Event], now: datetime | None = None) -> list[Row]:
    """Fill defaults: a uuid4 hex event_id and ts = time of receipt."""
    now = now or datetime.now(UTC)
    return [
        Row(
            event_id=ev.event_id or uuid.uuid4().hex,
            user_id=ev.user_id,
            event_type=str(ev.event_type),
            product_id=ev.product_id,
            query=ev.query,
            ts=ev.ts or now,
            request_id=ev.request_id,
            variant=ev.variant,
            properties=orjson.dumps(ev.properties).decode(),
            stamped=ev.ts is not None,
        )
        for ev in events
    ]


def unique_rows(rows: list[Row]) -> list[Row]:
    """First occurrence of each event_id; repeats inside one batch are duplicates."""
    seen: set[str] = set()
    out = []
    for row in rows:
        if row.event_id not in seen:
            seen.add(row.event_id)
            out.append(row)
    return out


async def check_products(
    conn: asyncpg.Connection, catalog: CategoryMap, rows: list[Row], is_batch: bool
) -> None:
    unknown = await catalog.resolve(conn, {r.product_id for r in rows if r.product_id})
    if not unknown:
        return
    for i, row in enumerate(rows):
        if row.product_id in unknown:
            raise ApiError(
                422,
                "validation_error",
                f"unknown product {row.product_id}",
                event_field(i, is_batch, "product_id"),
            )


async def write_rows(conn: asyncpg.Connection, rows: list[Row]) -> list[Row]:
    """Write in one transaction; return the rows that were new."""
    candidates = unique_rows(rows)
    async with conn.transaction():
        inserted = await conn.fetch(
            _INSERT_IDS,
            [r.event_id for r in candidates],
            [r.user_id for r in candidates],
            [r.ts for r in candidates],
        )
        new_ids = {r["event_id"] for r in inserted}
        new = [r for r in candidates if r.event_id in new_ids]
        if new:
            await conn.execute(
                _INSERT_EVENTS,
                [r.event_id for r in new],
                [r.user_id for r in new],
                [r.event_type for r in new],
                [r.product_id for r in new],
                [r.query for r in new],
                [r.ts for r in new],
                [r.request_id for r in new],
                [r.variant for r in new],
                [r.properties for r in new],
            )
    return new


def rejected(reason: str) -> None:
    """A request refused with a 4xx; `reason` is the error code (bounded)."""
    EVENTS_REJECTED.labels(reason).inc()


def observe(new: list[Row], known_variants: frozenset[str], now: datetime | None = None) -> None:
    """Lag and recommendation interactions of newly stored events (not duplicates: a
    retried batch must not count twice)."""
    now = now or datetime.now(UTC)
    for row in new:
        if row.stamped:
            EVENT_LAG.observe(max(0.0, (now - row.ts).total_seconds()))
        kind = _INTERACTION_TYPES.get(row.event_type)
        if kind is not None:
            variant = row.variant if row.variant in known_variants else OTHER_VARIANT
            INTERACTIONS.labels(kind, variant).inc()


def result(rows: list[Row], new: list[Row]) -> IngestResult:
    for row in new:
        EVENTS_INGESTED.labels(row.event_type).inc()
    duplicates = len(rows) - len(new)
    if duplicates:
        EVENTS_DUPLICATE.inc(duplicates)
    return IngestResult(
        accepted=len(new), duplicates=duplicates, event_ids=[r.event_id for r in rows]
    )


async def update_realtime(redis: Redis, keys: Keys, catalog: CategoryMap, new: list[Row]) -> bool:
    """Apply committed events to Redis. A failure is logged and counted, never raised:
    Postgres already holds the events and `recsys rebuild-realtime` repairs Redis."""
    events = [
        RealtimeEvent(
            user_id=r.user_id,
            event_type=r.event_type,
            ts=r.ts,
            product_id=r.product_id,
            category=catalog.get(r.product_id),
            query=r.query,
        )
        for r in new
    ]
    try:
        await apply_events(redis, keys, events)
        return True
    except Exception as exc:  # noqa: BLE001 - Redis is derived state
        REALTIME_FAILURES.inc()
        log.warning(
            "realtime update failed",
            extra={"error_type": type(exc).__name__, "events": len(events)},
        )
        return False
