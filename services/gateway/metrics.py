"""Gateway business metrics (DESIGN section 10). Labels are bounded: never a user id."""

from __future__ import annotations

from prometheus_client import Counter

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
