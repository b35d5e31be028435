"""Every metric in docs/metrics.md is defined in the code with exactly its labels, and the
small pieces behind the new ones (distinct items, variant labels) behave."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import REGISTRY

# Importing the apps registers every metric of every service.
import services.candidate_gen.app  # noqa: F401
import services.event_ingest.app  # noqa: F401
import services.feature_serving.app  # noqa: F401
import services.gateway.app  # noqa: F401
import services.ranking.app  # noqa: F401
from services.event_ingest import ingest
from services.gateway.metrics import DistinctItems

DOC = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
ROW = re.compile(r"^\|\s*`(recsys_[a-z_]+)`\s*\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|")
_SUFFIX = {"counter": "_total"}


def catalogue() -> list[tuple[str, str, tuple[str, ...]]]:
    rows = []
    for line in DOC.read_text().splitlines():
        m = ROW.match(line)
        if m:
            name, kind, labels = m.groups()
            # "event_type (impression/click), variant (...)" -> ("event_type", "variant")
            cleaned = re.sub(r"\([^)]*\)", "", labels)
            names = tuple(sorted(x.strip() for x in cleaned.split(",") if x.strip()))
            rows.append((name, kind.split()[0], names))
    return rows


def test_catalogue_is_parsed():
    names = [r[0] for r in catalogue()]
    assert len(names) >= 19 and "recsys_model_info" in names


def test_every_catalogued_metric_is_defined_with_its_labels():
    collectors = REGISTRY._names_to_collectors
    for name, kind, labels in catalogue():
        assert name in collectors, f"{name} is in docs/metrics.md but not defined"
        metric = collectors[name]
        assert metric._type == kind, (name, metric._type, kind)
        assert tuple(sorted(metric._labelnames)) == labels, (name, metric._labelnames)
        if kind == "counter":  # the name in the doc is the exposed one, with _total
            assert name.endswith("_total")
        assert "user_id" not in metric._labelnames


def test_distinct_items_window_and_bound():
    now = [1000.0]
    tracker = DistinctItems(window=3600, max_items=5, clock=lambda: now[0])
    tracker.observe(["A", "B", "C"])
    now[0] += 1800
    tracker.observe(["B", "D"])
    assert tracker.count() == 4
    now[0] += 1801  # A and C are older than an hour; B was seen again
    assert tracker.count() == 2
    tracker.observe([f"X{i}" for i in range(10)])
    assert tracker.count() == 5  # bounded: saturates at max_items
    now[0] += 3601
    assert tracker.count() == 0


def _row(event_type: str, variant: str | None, ts: datetime, stamped: bool) -> ingest.Row:
    return ingest.Row(
        event_id="e", user_id="u", event_type=event_type, product_id="P", query=None,
        ts=ts, request_id=None, variant=variant, properties="{}", stamped=stamped,
    )  # fmt: skip


def _value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_interactions_use_bounded_variant_labels_and_lag_needs_a_client_ts():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    name = "recsys_recommendation_interactions_total"
    before = {
        (t, v): _value(name, event_type=t, variant=v)
        for t in ("impression", "click")
        for v in ("control", "b", "other")
    }
    lag_count = _value("recsys_event_lag_seconds_count")
    lag_sum = _value("recsys_event_lag_seconds_sum")
    rows = [
        _row("recommendation_impression", "control", now, False),
        _row("recommendation_click", "b", now - timedelta(seconds=30), True),
        _row("recommendation_click", "made-up-variant", now, False),
        _row("recommendation_click", None, now, False),
        _row("view", "control", now - timedelta(seconds=90), True),
    ]
    ingest.observe(rows, frozenset({"control", "b"}), now=now)

    def gained(t: str, v: str) -> float:
        return _value(name, event_type=t, variant=v) - before[(t, v)]

    assert gained("impression", "control") == 1
    assert gained("click", "b") == 1
    assert gained("click", "other") == 2
    assert _value(name, event_type="click", variant="made-up-variant") == 0
    assert _value("recsys_event_lag_seconds_count") - lag_count == 2
    assert _value("recsys_event_lag_seconds_sum") - lag_sum == 120
