"""Request body -> validated events, or an ApiError with the uniform body.

The body is either one Event or {"events": [...]} (contracts.Event / EventBatch).
Parsing is done here rather than by FastAPI so that an oversized batch is refused
before validating 1,000+ events and every error names the exact field, e.g.
`events[3].product_id`.
"""

from __future__ import annotations

import orjson
from pydantic import ValidationError

from services.common.contracts import MAX_BATCH_EVENTS, Event, EventBatch
from services.common.errors import ApiError, field_path

_EVENT_FIELDS = frozenset(Event.model_fields)
_NUL_ESCAPE = b"\\u0000"


def event_field(index: int, is_batch: bool, name: str) -> str:
    return f"events[{index}].{name}" if is_batch else name


def check_size(length: int, limit: int) -> None:
    if length > limit:
        raise ApiError(413, "payload_too_large", f"request body is larger than {limit} bytes", None)


def parse_events(raw: bytes) -> tuple[list[Event], bool]:
    """Return (events, is_batch). Raises ApiError 400/413/422."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "request body is not valid JSON") from None
    is_batch = isinstance(doc, dict) and "events" in doc
    if is_batch and isinstance(doc["events"], list) and len(doc["events"]) > MAX_BATCH_EVENTS:
        raise ApiError(
            413,
            "payload_too_large",
            f"a batch holds at most {MAX_BATCH_EVENTS} events, got {len(doc['events'])}",
            "events",
        )
    try:
        events = EventBatch.model_validate(doc).events if is_batch else [Event.model_validate(doc)]
    except ValidationError as exc:
        raise validation_error(exc) from None
    if _NUL_ESCAPE in raw:
        _reject_nul(events, is_batch)
    return events, is_batch


def validation_error(exc: ValidationError) -> ApiError:
    err = exc.errors(include_url=False)[0]
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    # field_path strips a leading request location ("body", "query", ...); say "body"
    # so that a top-level field named `query` is not mistaken for one.
    field = field_path(("body", *err.get("loc", ())))
    if err.get("type") == "value_error":
        # Event's model validator reports cross-field rules ("query is required for
        # search events", "ts is in the future") on the event; name the field itself.
        first = message.split(" ", 1)[0]
        if first in _EVENT_FIELDS and not (field or "").endswith(first):
            field = f"{field}.{first}" if field else first
    return ApiError(422, "validation_error", message, field)


def _reject_nul(events: list[Event], is_batch: bool) -> None:
    """Postgres text and jsonb cannot store NUL; refuse it as bad input, not a 5xx."""
    for i, ev in enumerate(events):
        for name in ("query", "request_id", "variant"):
            value = getattr(ev, name)
            if value is not None and "\x00" in value:
                raise ApiError(
                    422,
                    "validation_error",
                    "NUL characters are not allowed",
                    event_field(i, is_batch, name),
                )
        if ev.properties and _NUL_ESCAPE in orjson.dumps(ev.properties):
            raise ApiError(
                422,
                "validation_error",
                "NUL characters are not allowed",
                event_field(i, is_batch, "properties"),
            )
