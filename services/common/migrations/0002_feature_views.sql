-- Batch sources of the Feast feature store (docs/feature-store.md, feature_repo/).
--
-- Point-in-time correct by construction: a row with event_timestamp T is computed
-- from events with ts <= T only, so historical retrieval ("latest row with
-- event_timestamp <= label time") never sees the future.
--
-- Event weights and the 30-day decay are those of services/common/signals.py
-- (EVENT_WEIGHTS, AFFINITY_DECAY_DAYS, RECENT_*_CAP, TRENDING_*); a unit test
-- compares recsys_event_weight() with EVENT_WEIGHTS. Change both together.

CREATE FUNCTION recsys_event_weight(event_type text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE event_type
        WHEN 'purchase' THEN 5.0
        WHEN 'add_to_cart' THEN 3.0
        WHEN 'wishlist' THEN 2.0
        WHEN 'recommendation_click' THEN 1.5
        WHEN 'click' THEN 1.0
        WHEN 'view' THEN 1.0
        WHEN 'remove_from_cart' THEN -1.0
        WHEN 'search' THEN 0.0
        WHEN 'recommendation_impression' THEN 0.0
        ELSE 0.0
    END::double precision
$$;

-- One row per user and active day (UTC); T = that day's last event of the user.
-- Windows are [T - N days, T] over the user's events.
CREATE VIEW feast_user_activity AS
SELECT user_id, event_timestamp,
       views_7d, clicks_7d, add_to_carts_7d, purchases_7d, searches_7d,
       events_1d, events_7d, events_30d, purchases_30d,
       extract(epoch FROM event_timestamp)::bigint AS last_active_ts
FROM (
    SELECT DISTINCT ON (user_id, floor(extract(epoch FROM ts) / 86400))
           user_id, ts AS event_timestamp,
           count(*) FILTER (WHERE event_type = 'view') OVER w7 AS views_7d,
           count(*) FILTER (WHERE event_type IN ('click', 'recommendation_click')) OVER w7
               AS clicks_7d,
           count(*) FILTER (WHERE event_type = 'add_to_cart') OVER w7 AS add_to_carts_7d,
           count(*) FILTER (WHERE event_type = 'purchase') OVER w7 AS purchases_7d,
           count(*) FILTER (WHERE event_type = 'search') OVER w7 AS searches_7d,
           count(*) OVER w1 AS events_1d,
           count(*) OVER w7 AS events_7d,
           count(*) OVER w30 AS events_30d,
           count(*) FILTER (WHERE event_type = 'purchase') OVER w30 AS purchases_30d
    FROM events
    WINDOW w1 AS (PARTITION BY user_id ORDER BY ts
                  RANGE BETWEEN interval '1 day' PRECEDING AND CURRENT ROW),
           w7 AS (PARTITION BY user_id ORDER BY ts
                  RANGE BETWEEN interval '7 days' PRECEDING AND CURRENT ROW),
           w30 AS (PARTITION BY user_id ORDER BY ts
                   RANGE BETWEEN interval '30 days' PRECEDING AND CURRENT ROW)
    ORDER BY user_id, floor(extract(epoch FROM ts) / 86400), ts DESC
) s;

-- The user's last event per active day: the snapshot times of feast_user_interests.
-- A filter on event_timestamp (Feast's materialisation window) is pushed down here,
-- so the per-row subqueries only run for the snapshots in the window.
CREATE VIEW feast_user_snapshots AS
SELECT user_id, max(ts) AS event_timestamp
FROM events
GROUP BY user_id, floor(extract(epoch FROM ts) / 86400);

CREATE VIEW feast_user_interests AS
SELECT s.user_id, s.event_timestamp,
       coalesce(x.recent_items, '{}') AS recent_items,
       coalesce(x.recent_queries, '{}') AS recent_queries,
       coalesce(x.purchased, '{}') AS purchased,
       coalesce(x.affinity_categories, '{}') AS affinity_categories,
       coalesce(x.affinity_weights, '{}') AS affinity_weights
FROM feast_user_snapshots s
-- One scan of the user's events up to T (materialised once), four aggregates over it:
-- the last 50 distinct positive-weight items (most recently touched first), the last
-- 10 queries (newest first), purchases, and category affinity
-- sum(weight * exp(-age / 30 d)) at T as shares of the positive total.
LEFT JOIN LATERAL (
    WITH ev AS MATERIALIZED (
        SELECT e.event_id, e.event_type, e.product_id, e.query, e.ts,
               recsys_event_weight(e.event_type) AS w,
               (SELECT p.main_category FROM products p WHERE p.product_id = e.product_id)
                   AS main_category
        FROM events e
        WHERE e.user_id = s.user_id AND e.ts <= s.event_timestamp
    )
    SELECT
      (SELECT array_agg(product_id ORDER BY last_ts DESC, product_id) FROM (
          SELECT product_id, max(ts) AS last_ts FROM ev
          WHERE product_id IS NOT NULL AND w > 0
          GROUP BY product_id ORDER BY last_ts DESC, product_id LIMIT 50) r) AS recent_items,
      (SELECT array_agg(query ORDER BY ts DESC, event_id DESC) FROM (
          SELECT query, ts, event_id FROM ev WHERE query IS NOT NULL
          ORDER BY ts DESC, event_id DESC LIMIT 10) q) AS recent_queries,
      (SELECT array_agg(DISTINCT product_id ORDER BY product_id) FROM ev
          WHERE event_type = 'purchase' AND product_id IS NOT NULL) AS purchased,
      a.categories AS affinity_categories, a.weights AS affinity_weights
    FROM (
        SELECT array_agg(main_category ORDER BY score DESC, main_category) AS categories,
               array_agg((score / total)::real ORDER BY score DESC, main_category) AS weights
        FROM (
            SELECT main_category, score, sum(score) OVER () AS total
            FROM (
                SELECT ev.main_category,
                       sum(ev.w * exp(greatest(-extract(epoch FROM s.event_timestamp - ev.ts)
                                                / 86400.0 / 30.0, -700))) AS score
                FROM ev
                WHERE ev.w <> 0 AND ev.main_category IS NOT NULL
                GROUP BY ev.main_category
            ) c
            WHERE score > 0
        ) a0
    ) a
) x ON true;

CREATE VIEW feast_product_catalog AS
SELECT product_id,
       updated_at AS event_timestamp,
       name, main_category, sub_category, coalesce(image, '') AS image,
       price::double precision AS price,
       actual_price::double precision AS actual_price,
       discount_ratio::real AS discount_ratio,
       rating::real AS rating,
       no_of_ratings::bigint AS no_of_ratings,
       in_stock
FROM products;

-- Daily snapshots per product at T = the end of each UTC day (from its first event's
-- day to the last day with events), computed from events with ts < T:
--   popularity      sum(weight * exp(-age / 30 d)), weight <> 0, as a share of the max
--                   over products at the same T
--   trending        sum over the 48 hourly buckets before T of positive weight *
--                   2^(-age_hours / 12), as a share of the max at the same T
--   interactions_7d events of the product in [T - 7 d, T)
-- A snapshot is visible once T has passed (Feast reads rows with event_timestamp <= now).
CREATE VIEW feast_product_stats AS
WITH daily AS (
    SELECT product_id,
           floor(extract(epoch FROM ts) / 86400)::bigint AS day,
           count(*) AS n,
           sum(recsys_event_weight(event_type)
               -- clamped: an ancient ts would underflow double precision (exp(-700) is ~1e-304)
               * exp(greatest((extract(epoch FROM ts) - 1704067200) / 86400.0 / 30.0, -700)))
               AS growth
    FROM events
    WHERE product_id IS NOT NULL
    GROUP BY 1, 2
),
hourly AS (
    SELECT product_id,
           floor(extract(epoch FROM ts) / 3600)::bigint AS bucket,
           sum(recsys_event_weight(event_type)) AS score
    FROM events
    WHERE product_id IS NOT NULL AND recsys_event_weight(event_type) > 0
    GROUP BY 1, 2
),
trend AS (  -- a bucket counts in the snapshots of its day and of the next day
    SELECT h.product_id, d.day,
           sum(h.score * power(0.5, ((d.day + 1) * 24 - h.bucket) / 12.0)) AS score
    FROM hourly h
    CROSS JOIN LATERAL (VALUES (h.bucket / 24), (h.bucket / 24 + 1)) d(day)
    WHERE (d.day + 1) * 24 - h.bucket BETWEEN 0 AND 47
    GROUP BY 1, 2
),
days AS (
    SELECT generate_series(min(day), max(day)) AS day FROM daily
),
firsts AS (
    SELECT product_id, min(day) AS first_day FROM daily GROUP BY product_id
),
grid AS (
    SELECT f.product_id, d.day,
           sum(coalesce(y.growth, 0)) OVER (PARTITION BY f.product_id ORDER BY d.day) AS growth,
           sum(coalesce(y.n, 0)) OVER (PARTITION BY f.product_id ORDER BY d.day
                                       ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS n7,
           coalesce(t.score, 0) AS trending
    FROM firsts f
    JOIN days d ON d.day >= f.first_day
    LEFT JOIN daily y ON y.product_id = f.product_id AND y.day = d.day
    LEFT JOIN trend t ON t.product_id = f.product_id AND t.day = d.day
)
SELECT product_id,
       to_timestamp((day + 1) * 86400) AS event_timestamp,
       coalesce(greatest(growth, 0)
                / nullif(greatest(max(growth) OVER (PARTITION BY day), 0), 0), 0)::real
           AS popularity,
       coalesce(trending / nullif(max(trending) OVER (PARTITION BY day), 0), 0)::real
           AS trending,
       n7::bigint AS interactions_7d
FROM grid;
