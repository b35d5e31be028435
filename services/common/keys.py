"""Redis key layout. Every key is built here and carries the configured prefix,
so tests and tenants can share one Redis without colliding.

Redis holds derived, rebuildable state only; Postgres is the source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "recsys:"

    # per user (all deleted on erasure: see user_keys)
    def recent_items(self, user_id: str) -> str:
        """ZSET product_id -> last interaction epoch seconds."""
        return f"{self.prefix}user:{user_id}:recent"

    def recent_queries(self, user_id: str) -> str:
        """LIST of the latest search queries, newest first."""
        return f"{self.prefix}user:{user_id}:queries"

    def affinity(self, user_id: str) -> str:
        """HASH main_category -> sum(weight * growth(ts)) (see signals.AFFINITY_EPOCH)."""
        return f"{self.prefix}user:{user_id}:affinity"

    def counts(self, user_id: str) -> str:
        """HASH event_type -> count, plus `last_active` epoch seconds."""
        return f"{self.prefix}user:{user_id}:counts"

    def purchased(self, user_id: str) -> str:
        """SET of purchased product ids."""
        return f"{self.prefix}user:{user_id}:purchased"

    def response_cache(self, user_id: str) -> str:
        """HASH cache field -> cached gateway response for the user."""
        return f"{self.prefix}user:{user_id}:cache"

    def user_keys(self, user_id: str) -> list[str]:
        return [
            self.recent_items(user_id),
            self.recent_queries(user_id),
            self.affinity(user_id),
            self.counts(user_id),
            self.purchased(user_id),
            self.response_cache(user_id),
        ]

    def user_pattern(self, user_id: str) -> str:
        return f"{self.prefix}user:{user_id}:*"

    def derived_patterns(self) -> list[str]:
        """SCAN patterns of every key `recsys rebuild-realtime` recomputes from Postgres
        (not the response cache or the fallback list, which their owners refresh)."""
        p = self.prefix
        users = [f"{p}user:*:{kind}" for kind in ("recent", "queries", "affinity", "counts")]
        return [*users, f"{p}user:*:purchased", f"{p}trending:*", self.popularity]

    # aggregates (anonymous)
    def trending_items(self, bucket: int) -> str:
        """ZSET product_id -> weighted events in one hour bucket (expires after the window)."""
        return f"{self.prefix}trending:item:{bucket}"

    def trending_categories(self, bucket: int) -> str:
        """ZSET main_category -> weighted events in one hour bucket."""
        return f"{self.prefix}trending:category:{bucket}"

    @property
    def popularity(self) -> str:
        """ZSET product_id -> weighted, 30-day decayed interactions (growth-scaled)."""
        return f"{self.prefix}item:popularity"

    @property
    def fallback_items(self) -> str:
        """STRING: JSON list of RankedItem for the gateway's degraded mode."""
        return f"{self.prefix}fallback:items"
