"""The training matrix from Postgres (DESIGN section 6).

One row per (user, product): sum of event weights (signals.EVENT_WEIGHTS) decayed by
exp(-age_days / 30), aggregated in Postgres, with the time of the latest event;
plus every catalog product's content (name + sub_category, sub_category, price), so
items without interactions still get content and two-tower embeddings.
"""

from __future__ import annotations

import asyncio

import numpy as np

from ml.training.dataset import TrainingData, from_triples
from services.common.signals import AFFINITY_DECAY_DAYS, EVENT_WEIGHTS

INTERACTIONS_SQL = """
SELECT e.user_id, e.product_id,
       sum(w.weight * exp(-least(greatest(extract(epoch FROM now() - e.ts), 0)
                                 / 86400.0 / $3, 700)))::float8 AS weight,
       extract(epoch FROM max(e.ts))::float8 AS last_ts
FROM events e
JOIN unnest($1::text[], $2::float8[]) AS w(event_type, weight) ON w.event_type = e.event_type
WHERE e.ts >= now() - make_interval(days => $4) AND e.product_id IS NOT NULL
GROUP BY e.user_id, e.product_id
"""
PRODUCTS_SQL = """
SELECT product_id, name, sub_category, price::float8 AS price FROM products
"""


async def _fetch(database_url: str, days: int):
    from services.common.db import connect

    conn = await connect(database_url)  # no command timeout: a batch aggregation
    try:
        types = list(EVENT_WEIGHTS)
        rows = await conn.fetch(
            INTERACTIONS_SQL,
            [str(t) for t in types],
            [EVENT_WEIGHTS[t] for t in types],
            AFFINITY_DECAY_DAYS,
            days,
        )
        products = await conn.fetch(PRODUCTS_SQL)
    finally:
        await conn.close()
    return rows, products


def load_interactions(database_url: str, *, days: int = 365) -> TrainingData:
    """Interactions of the last `days` days and the whole catalog."""
    rows, products = asyncio.run(_fetch(database_url, days))
    content = {
        p["product_id"]: (
            f"{p['name'] or ''} {p['sub_category'] or ''}".strip(),
            p["sub_category"] or "",
            np.nan if p["price"] is None else float(p["price"]),
        )
        for p in products
    }
    known = set(content)
    rows = [r for r in rows if r["product_id"] in known]  # deleted products stay out
    return from_triples(
        np.array([r["user_id"] for r in rows], dtype=object),
        np.array([r["product_id"] for r in rows], dtype=object),
        np.array([r["weight"] for r in rows], dtype=float),
        np.array([r["last_ts"] for r in rows], dtype=float),
        content,
        all_items=np.array(list(content), dtype=object),
    )
