-- Catalog, events (partitioned by month), idempotency ledger, erasure log.

CREATE TABLE products (
    product_id      text PRIMARY KEY CHECK (product_id ~ '^[A-Z0-9]{10}$'),
    name            text NOT NULL,
    main_category   text NOT NULL,
    sub_category    text NOT NULL,
    -- every sub-category the same product was listed under (imports merge by ASIN)
    sub_categories  text[] NOT NULL DEFAULT '{}',
    image           text,
    link            text,
    rating          real CHECK (rating IS NULL OR rating BETWEEN 0 AND 5),
    no_of_ratings   integer CHECK (no_of_ratings IS NULL OR no_of_ratings >= 0),
    price           numeric(12, 2) CHECK (price IS NULL OR price >= 0),
    actual_price    numeric(12, 2) CHECK (actual_price IS NULL OR actual_price >= 0),
    discount_ratio  real CHECK (discount_ratio IS NULL OR discount_ratio BETWEEN 0 AND 1),
    in_stock        boolean NOT NULL DEFAULT true,
    source          text NOT NULL DEFAULT 'import',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_sub_category_idx ON products (sub_category);

CREATE TABLE events (
    event_id    text NOT NULL,
    user_id     text NOT NULL,
    event_type  text NOT NULL CHECK (event_type IN (
                    'view', 'click', 'add_to_cart', 'remove_from_cart', 'purchase', 'search',
                    'wishlist', 'recommendation_impression', 'recommendation_click')),
    product_id  text,
    query       text,
    ts          timestamptz NOT NULL,
    request_id  text,
    variant     text,
    properties  jsonb NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);
CREATE INDEX events_user_ts_idx ON events (user_id, ts);
CREATE INDEX events_ts_idx ON events (ts);
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- A unique index on a partitioned table must include the partition key, which
-- would let one event_id repeat with another ts. This ledger makes event_id
-- unique across all partitions; ingest writes both rows in one transaction.
CREATE TABLE event_ids (
    event_id text PRIMARY KEY,
    user_id  text NOT NULL,
    ts       timestamptz NOT NULL
);
CREATE INDEX event_ids_user_idx ON event_ids (user_id);

-- Audit trail of erasures (no personal data beyond the id being erased).
CREATE TABLE erasures (
    user_id        text NOT NULL,
    erased_at      timestamptz NOT NULL DEFAULT now(),
    events_deleted integer NOT NULL
);

-- Creates monthly partitions from the month of `start` to `months_ahead` months
-- after now. Idempotent; run by every migration and by the partition CronJob.
CREATE FUNCTION ensure_event_partitions(start timestamptz, months_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    month   date := date_trunc('month', start)::date;
    stop    date := (date_trunc('month', now()) + make_interval(months => months_ahead))::date;
    name    text;
    created integer := 0;
BEGIN
    WHILE month <= stop LOOP
        name := format('events_%s', to_char(month, 'YYYY_MM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                name, month, (month + interval '1 month')::date);
            created := created + 1;
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
    RETURN created;
END $$;
