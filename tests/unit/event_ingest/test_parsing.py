from datetime import UTC, datetime, timedelta

import orjson
import pytest

from services.common.errors import ApiError
from services.event_ingest.ingest import to_rows, unique_rows
from services.event_ingest.parsing import check_size, parse_events

PID = "B000000001"


def body(doc) -> bytes:
    return orjson.dumps(doc)


def view(**kw):
    return {"user_id": "u1", "event_type": "view", "product_id": PID, **kw}


def error_of(raw: bytes) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_events(raw)
    return info.value


def test_single_event_and_batch():
    events, is_batch = parse_events(body(view()))
    assert not is_batch and len(events) == 1 and events[0].product_id == PID
    events, is_batch = parse_events(body({"events": [view(), view(event_id="e2")]}))
    assert is_batch and [e.event_id for e in events] == [None, "e2"]


@pytest.mark.parametrize("raw", [b"{", b"", b"nope", b'{"user_id": "u1",}'])
def test_malformed_json_is_400(raw):
    err = error_of(raw)
    assert (err.status, err.code, err.field) == (400, "invalid_json", None)


def test_oversized_batch_is_413_on_events():
    err = error_of(body({"events": [view()] * 1001}))
    assert (err.status, err.code, err.field) == (413, "payload_too_large", "events")


def test_exactly_1000_events_pass():
    events, _ = parse_events(body({"events": [view()] * 1000}))
    assert len(events) == 1000


def test_body_size_limit():
    check_size(10, 10)
    with pytest.raises(ApiError) as info:
        check_size(11, 10)
    assert info.value.status == 413


FUTURE = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (view(event_type="teleport"), "event_type"),
        (view(product_id="b000000001"), "product_id"),
        (view(product_id="B0001"), "product_id"),
        ({"user_id": "u1", "event_type": "view"}, "product_id"),
        ({"user_id": "u1", "event_type": "search"}, "query"),
        ({"user_id": "u1", "event_type": "search", "query": "   "}, "query"),
        ({"user_id": "u1", "event_type": "search", "query": "x" * 201}, "query"),
        (view(ts=FUTURE), "ts"),
        (view(colour="red"), "colour"),
        (view(user_id="bad user!"), "user_id"),
        (view(event_id="has space"), "event_id"),
        ({"event_type": "view", "product_id": PID}, "user_id"),
    ],
)
def test_validation_errors_name_the_field(event, field):
    err = error_of(body(event))
    assert (err.status, err.code, err.field) == (422, "validation_error", field)
    err = error_of(body({"events": [view(), view(), view(), event]}))
    assert (err.status, err.field) == (422, f"events[3].{field}")


def test_batch_shape_errors():
    assert error_of(body({"events": []})).field == "events"
    assert error_of(body({"events": "x"})).field == "events"
    assert error_of(body({"events": [view()], "extra": 1})).field == "extra"
    assert error_of(body([view()])).status == 422


def test_query_is_trimmed():
    events, _ = parse_events(body({"user_id": "u1", "event_type": "search", "query": " tv "}))
    assert events[0].query == "tv"


def test_nul_characters_are_rejected_with_field():
    err = error_of(body({"user_id": "u1", "event_type": "search", "query": "a\x00b"}))
    assert (err.status, err.field) == (422, "query")
    err = error_of(body({"events": [view(properties={"k": "\x00"})]}))
    assert (err.status, err.field) == (422, "events[0].properties")


def test_rows_fill_defaults_and_dedupe():
    events, _ = parse_events(body({"events": [view(), view(event_id="x"), view(event_id="x")]}))
    now = datetime(2025, 1, 2, tzinfo=UTC)
    rows = to_rows(events, now)
    assert len(rows[0].event_id) == 32 and rows[0].ts == now
    assert rows[0].event_type == "view" and rows[0].properties == "{}"
    assert [r.event_id for r in unique_rows(rows)] == [rows[0].event_id, "x"]


def test_naive_ts_is_utc():
    day = (datetime.now(UTC) - timedelta(days=10)).date()
    events, _ = parse_events(body(view(ts=f"{day.isoformat()}T10:00:00")))
    assert events[0].ts == datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
