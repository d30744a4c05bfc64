-- The replica of the source database's table public.orders, kept by
-- kafka2pg from Debezium change events. id is the table's key: the Kafka
-- key (an Avro record {id}) carries it, and deletes find the row by it.
CREATE TABLE IF NOT EXISTS orders_cdc (
  id              bigint PRIMARY KEY,
  customer        text NOT NULL,
  amount          numeric(12,2) NOT NULL,
  currency        char(3) NOT NULL,
  status          text NOT NULL,
  created_at      timestamptz NOT NULL,
  delivery_date   date,
  note            text,
  -- Where the row's last change came from. kafka2pg fills columns with
  -- these names from the envelope, as Debezium's ExtractNewRecordState
  -- transform does with add.fields=op,lsn,source.ts_ms.
  __op            char(1) NOT NULL,        -- c, r or u
  __lsn           bigint NOT NULL,         -- source.lsn: the version_column
  __source_ts_ms  timestamptz NOT NULL     -- source.ts_ms, epoch milliseconds
);
