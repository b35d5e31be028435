"""Gateway business metrics (DESIGN section 10, docs/metrics.md). Labels are bounded:
never a user id."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge

RECOMMENDATIONS_SERVED = Counter(
    "recsys_recommendations_served",
    "Recommendation responses served",
    ["surface", "variant"],
)
FALLBACKS = Counter(
    "recsys_fallbacks",
    "Responses with a fallback_reason",
    ["surface", "reason"],
)
CACHE_LOOKUPS = Counter("recsys_gateway_cache_lookups", "Response cache lookups", ["result"])
RECOMMENDED_ITEMS = Counter(
    "recsys_recommended_items", "Items returned in recommendation responses", ["surface"]
)


class DistinctItems:
    """Distinct product ids seen in the last `window` seconds, in bounded memory.

    An insertion-ordered map id -> last seen (monotonic seconds), oldest first: seeing an
    id again moves it to the end, so expiry pops from the front until the first fresh
    entry. At most `max_items` ids are kept (the oldest go first); beyond that the count
    saturates at `max_items`, a catalogue-coverage gauge does not need more. The gateway
    is one event loop and the scrape runs on it too: no lock needed.
    """

    def __init__(
        self,
        window: float = 3600.0,
        max_items: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window, self.max_items, self.clock = window, max_items, clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def observe(self, product_ids: Iterable[str]) -> None:
        now = self.clock()
        seen = self._seen
        for pid in product_ids:
            if pid in seen:
                seen.move_to_end(pid)
            seen[pid] = now
        while len(seen) > self.max_items:
            seen.popitem(last=False)

    def count(self) -> int:
        horizon = self.clock() - self.window
        seen = self._seen
        while seen:
            oldest = next(iter(seen.values()))
            if oldest >= horizon:
                break
            seen.popitem(last=False)
        return len(seen)


DISTINCT_ITEMS = DistinctItems()
RECOMMENDED_DISTINCT = Gauge(
    "recsys_recommended_distinct_items",
    "Distinct products recommended in the last hour (catalogue coverage)",
)
RECOMMENDED_DISTINCT.set_function(DISTINCT_ITEMS.count)


def record_served(surface: str, variant: str, product_ids: list[str]) -> None:
    """One recommendation response (fresh, cached or fallback) went out."""
    RECOMMENDATIONS_SERVED.labels(surface, variant).inc()
    if product_ids:
        RECOMMENDED_ITEMS.labels(surface).inc(len(product_ids))
        DISTINCT_ITEMS.observe(product_ids)
