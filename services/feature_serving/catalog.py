"""Static item attributes held in memory: loaded at startup, refreshed periodically,
completed on demand by a direct query for ids not seen yet."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

_COLUMNS = """
SELECT product_id, name, main_category, sub_category, image,
       price::float8 AS price, actual_price::float8 AS actual_price,
       round(discount_ratio::numeric, 4)::float8 AS discount_ratio,
       round(rating::numeric, 2)::float8 AS rating,
       no_of_ratings, in_stock
FROM products
"""


class ItemCatalog:
    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, product_id: str) -> dict[str, Any] | None:
        return self._items.get(product_id)

    async def load(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(_COLUMNS)
        # Swap the whole dict: readers never see a half-built catalog.
        self._items = {r["product_id"]: dict(r) for r in rows}

    async def fetch_missing(self, conn: asyncpg.Connection, product_ids: Iterable[str]) -> None:
        missing = [p for p in dict.fromkeys(product_ids) if p not in self._items]
        if not missing:
            return
        rows = await conn.fetch(_COLUMNS + " WHERE product_id = ANY($1::text[])", missing)
        for r in rows:
            self._items[r["product_id"]] = dict(r)
