from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.common.contracts import MAX_EVENT_AGE, Event, EventBatch
from services.event_ingest.parsing import parse_events

VIEW = {"user_id": "u1", "event_type": "view", "product_id": "B000000001"}


def test_naive_timestamp_is_read_as_utc():
    ev = Event.model_validate({**VIEW, "ts": "2026-01-01T10:00:00"})
    assert ev.ts == datetime(2026, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ts", "message"),
    [
        (datetime.now(UTC) + timedelta(hours=1), "ts is in the future"),
        (datetime.now(UTC) - MAX_EVENT_AGE - timedelta(days=1), "ts is older than 400 days"),
    ],
)
def test_timestamps_outside_the_window_are_rejected(ts, message):
    with pytest.raises(ValidationError, match=message):
        Event.model_validate({**VIEW, "ts": ts.isoformat()})


def test_small_clock_skew_is_accepted():
    Event.model_validate({**VIEW, "ts": (datetime.now(UTC) + timedelta(minutes=2)).isoformat()})


def test_properties_are_bounded_in_bytes():
    Event.model_validate({**VIEW, "properties": {"note": "x" * 1000}})
    with pytest.raises(ValidationError, match="properties is larger than 4096 bytes"):
        Event.model_validate({**VIEW, "properties": {"note": "x" * 5000}})


def test_cross_field_errors_name_the_field():
    import orjson

    from services.common.errors import ApiError

    body = {"events": [VIEW, {**VIEW, "properties": {"n": "x" * 5000}}]}
    with pytest.raises(ApiError) as err:
        parse_events(orjson.dumps(body))
    assert err.value.field == "events[1].properties"


def test_unknown_fields_are_rejected():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        EventBatch.model_validate({"events": [{**VIEW, "colour": "red"}]})
