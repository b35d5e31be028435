import math
from datetime import UTC, datetime, timedelta

import pytest

from services.common.signals import AFFINITY_EPOCH, affinity_growth, affinity_scale
from services.feature_serving.features import category_affinity, event_counts, normalise


def test_affinity_shares_sum_to_one_and_sorted():
    shares = category_affinity({b"tv": b"3", b"audio": b"1"}, 1.0)
    assert list(shares) == ["tv", "audio"]
    assert shares == pytest.approx({"tv": 0.75, "audio": 0.25})


def test_affinity_clips_negatives():
    shares = category_affinity({b"tv": b"-2", b"audio": b"1", b"home": b"1"}, 0.5)
    assert shares == pytest.approx({"audio": 0.5, "home": 0.5})
    assert category_affinity({b"tv": b"-1"}, 1.0) == {}
    assert category_affinity({}, 1.0) == {}


def test_affinity_decay_30_days():
    now = datetime(2025, 6, 1, tzinfo=UTC)
    old, new = now - timedelta(days=30), now
    # One purchase (5) 30 days ago in tv, one view (1) now in audio.
    stored = {"tv": 5 * affinity_growth(old), "audio": 1 * affinity_growth(new)}
    scale = affinity_scale(now)
    assert stored["tv"] * scale == pytest.approx(5 * math.exp(-1))
    shares = category_affinity(stored, scale)
    tv = 5 * math.exp(-1)
    assert shares["tv"] == pytest.approx(tv / (tv + 1))
    assert affinity_scale(AFFINITY_EPOCH) == pytest.approx(1.0)


def test_event_counts_and_last_active():
    counts, last = event_counts({b"view": b"3", b"purchase": b"1", b"last_active": b"1700000000"})
    assert counts == {"view": 3, "purchase": 1}
    assert last == datetime.fromtimestamp(1_700_000_000, UTC)
    assert event_counts({}) == ({}, None)


def test_normalise():
    assert normalise([10.0, 5.0, None, -1.0], 10.0) == [1.0, 0.5, 0.0, 0.0]
    assert normalise([1.0, None], None) == [0.0, 0.0]
    assert normalise([1.0], 0.0) == [0.0]
