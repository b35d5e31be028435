"""HTTP surface of event-ingest: thin wrappers around parsing, ingest and users."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Path, Query, Request
from redis.exceptions import RedisError

from services.common.app import api_router
from services.common.contracts import (
    USER_ID_PATTERN,
    ErasureResult,
    ErrorBody,
    IngestResult,
    UserHistory,
)
from services.common.db import connection
from services.common.errors import ApiError
from services.event_ingest import ingest, users
from services.event_ingest.parsing import check_size, parse_events

log = logging.getLogger(__name__)

router = api_router(tags=["events"])
UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN)]
_ERRORS = {s: {"model": ErrorBody} for s in (400, 413, 422, 503)}


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        check_size(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        check_size(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/v1/events",
    response_model=IngestResult,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": 'One Event, or {"events": [Event, ...]} (at most 1,000).',
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def post_events(request: Request) -> IngestResult:
    state = request.app.state
    settings = state.settings
    try:
        raw = await read_body(request, settings.max_body_bytes)
        events, is_batch = parse_events(raw)
    except ApiError as exc:
        ingest.rejected(exc.code)
        raise
    rows = ingest.to_rows(events)
    async with connection(state.pool, settings.db_acquire_timeout_seconds) as conn:
        try:
            await ingest.check_products(conn, state.catalog, rows, is_batch)
        except ApiError as exc:
            ingest.rejected("product_not_found" if exc.status == 422 else exc.code)
            raise
        new = await ingest.write_rows(conn, rows)
    # Committed: the answer is 200 from here on, whatever Redis does.
    if new and await ingest.update_realtime(state.redis, settings.keys, state.catalog, new):
        # Feast's online user_interests from the state just updated (background, coalesced).
        state.pusher.mark({r.user_id for r in new})
    ingest.observe(new, settings.variant_labels)
    return ingest.result(rows, new)


@router.get("/v1/users/{user_id}/history", response_model=UserHistory, responses=_ERRORS)
async def get_history(
    request: Request,
    user_id: UserIdPath,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> UserHistory:
    state = request.app.state
    settings = state.settings
    async with connection(state.pool, settings.db_acquire_timeout_seconds) as conn:
        events = await users.history(conn, user_id, days, settings.history_limit)
    return UserHistory(user_id=user_id, days=days, events=events)


@router.delete("/v1/users/{user_id}", response_model=ErasureResult, responses=_ERRORS)
async def erase_user(request: Request, user_id: UserIdPath) -> ErasureResult:
    state = request.app.state
    settings = state.settings
    async with connection(state.pool, settings.db_acquire_timeout_seconds) as conn:
        deleted = await users.erase_rows(conn, user_id)
    try:
        keys_deleted = await users.erase_keys(state.redis, settings.keys, user_id)
        # The user's Feast online row (both user views share it); under the pusher's lock
        # so a push in flight cannot write it back afterwards.
        async with state.pusher.lock:
            state.pusher.forget(user_id)
            keys_deleted += await users.erase_online_features(
                state.redis, settings.feast_project, user_id
            )
    except (RedisError, OSError) as exc:
        # Rows are gone; the keys are not. Erasure is idempotent, so a retry finishes it.
        log.warning("erasure: redis failed", extra={"error_type": type(exc).__name__})
        raise ApiError(
            503, "unavailable", "real-time store unavailable, retry the erasure"
        ) from None
    log.info("user erased", extra={"events_deleted": deleted, "keys_deleted": keys_deleted})
    return ErasureResult(user_id=user_id, events_deleted=deleted, keys_deleted=keys_deleted)
