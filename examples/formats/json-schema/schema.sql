-- The table of the json-schema example. Columns are matched to the JSON
-- properties by name; the properties that allow null are the nullable
-- columns.
CREATE TABLE IF NOT EXISTS orders_json_schema (
  order_id       bigint PRIMARY KEY,
  customer       text NOT NULL,
  amount         numeric(12,2) NOT NULL,
  currency       char(3) NOT NULL,
  status         text NOT NULL,
  created_at     timestamptz NOT NULL,
  delivery_date  date,
  note           varchar(200)
);
