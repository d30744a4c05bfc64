-- The table of the json-connect example. Columns are matched to the
-- payload's fields by name; the optional fields are the nullable columns.
CREATE TABLE IF NOT EXISTS orders_connect (
  order_id       bigint PRIMARY KEY,
  customer       text NOT NULL,
  amount         numeric(12,2) NOT NULL,
  currency       char(3) NOT NULL,
  status         text NOT NULL,
  created_at     timestamptz NOT NULL,
  delivery_date  date,
  note           text
);
