-- The demo's target table: one row per order, kept up to date by upserts
-- keyed on order_id; a tombstone deletes the order.
DO $$ BEGIN
  CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped', 'delivered', 'cancelled');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS orders (
  order_id     bigint PRIMARY KEY,
  customer_id  bigint NOT NULL,
  status       order_status NOT NULL,
  amount       numeric(12,2) NOT NULL,
  currency     char(3) NOT NULL DEFAULT 'EUR',
  items        jsonb,
  express      boolean NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL,
  version      bigint NOT NULL,
  ingested_at  timestamptz NOT NULL DEFAULT now()
);
