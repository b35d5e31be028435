"""In-memory product_id -> main_category map: validates product ids and gives the
category for real-time affinity without a query per event. Loaded at startup,
refreshed periodically, and completed on demand for ids it has not seen yet."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import asyncpg

log = logging.getLogger(__name__)


class CategoryMap:
    def __init__(self) -> None:
        self._categories: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._categories)

    def get(self, product_id: str | None) -> str | None:
        return self._categories.get(product_id) if product_id else None

    async def load(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch("SELECT product_id, main_category FROM products")
        # Swap the whole dict: readers never see a half-built map.
        self._categories = {r["product_id"]: r["main_category"] for r in rows}

    async def resolve(self, conn: asyncpg.Connection, product_ids: Iterable[str]) -> set[str]:
        """Look up ids missing from memory in Postgres; return those that do not exist."""
        missing = {p for p in product_ids if p not in self._categories}
        if not missing:
            return set()
        rows = await conn.fetch(
            "SELECT product_id, main_category FROM products WHERE product_id = ANY($1::text[])",
            list(missing),
        )
        for r in rows:
            self._categories[r["product_id"]] = r["main_category"]
        return missing - {r["product_id"] for r in rows}
