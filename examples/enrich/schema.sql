-- The enrich example's tables: customers is the lookup table the transform
-- reads (with a cache); orders_enriched is what kafka2pg writes.
CREATE TABLE IF NOT EXISTS customers (
  id   bigint PRIMARY KEY,
  tier text NOT NULL CHECK (tier IN ('bronze', 'silver', 'gold'))
);

CREATE TABLE IF NOT EXISTS orders_enriched (
  order_id    bigint PRIMARY KEY,
  customer_id bigint NOT NULL,
  amount      numeric(12,2) NOT NULL,
  tier        text NOT NULL,
  discount    numeric(12,2) NOT NULL,
  enriched_at timestamptz NOT NULL
);
