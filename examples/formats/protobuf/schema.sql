-- The table of the protobuf example. Columns are matched to the message's
-- fields by name; the wrapper fields (delivery_date, note) are the nullable
-- columns.
CREATE TABLE IF NOT EXISTS orders_protobuf (
  order_id       bigint PRIMARY KEY,
  customer       text NOT NULL,
  amount         numeric(12,2) NOT NULL,
  currency       char(3) NOT NULL,
  status         text NOT NULL,
  created_at     timestamptz NOT NULL,
  delivery_date  date,
  note           text
);
