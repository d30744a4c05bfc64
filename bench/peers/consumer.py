#!/usr/bin/env python3
"""The Kafka-to-PostgreSQL consumer a tutorial would write, as a peer in
scripts/bench-peers.sh: confluent-kafka and psycopg 3, one row at a time.

For each message: decode the Kafka Connect JSON envelope, INSERT the row
(ON CONFLICT (order_id) DO UPDATE in upsert mode), commit the database
transaction, then commit the message's offset to Kafka synchronously, so that
no offset is committed before its row is durable.

A tutorial's loop runs forever; this one stops once it has consumed every
partition up to the end offsets it saw at start, so that the benchmark can
time it. Usage:

    DATABASE_URL=postgres://… python3 consumer.py --brokers 127.0.0.1:9092 \\
        --topic T --group G --table orders --mode insert|upsert [--timeout 900]

Exit status 0 when done, 1 on any error (or the timeout). It prints one line:
"rows=N seconds=S".
"""

import argparse
import base64
import json
import os
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal

import psycopg
from psycopg import sql
from confluent_kafka import Consumer, KafkaException, TopicPartition

COLUMNS = ("order_id", "customer_id", "status", "amount", "currency",
           "items", "express", "created_at", "version")


def statement(table, mode):
    """INSERT (upsert: … ON CONFLICT (order_id) DO UPDATE) with quoted
    identifiers and one bound parameter per column."""
    schema, _, name = table.rpartition(".")
    target = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        target,
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)))
    if mode == "upsert":
        query += sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(
            sql.Identifier("order_id"),
            sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in COLUMNS if c != "order_id"))
    return query


def decimal_scale(schema, field):
    for f in schema["fields"]:
        if f["field"] == field:
            return int(f["parameters"]["scale"])
    raise ValueError(f"no field {field} in the schema")


def row(value):
    """Decodes one Connect JSON envelope into the row's values."""
    envelope = json.loads(value)
    p = envelope["payload"]
    # A Connect Decimal is the base64 of the unscaled two's-complement integer.
    unscaled = int.from_bytes(base64.b64decode(p["amount"]), "big", signed=True)
    amount = Decimal(unscaled).scaleb(-decimal_scale(envelope["schema"], "amount"))
    items = p.get("items")
    return (
        p["order_id"],
        p["customer_id"],
        p["status"],
        amount,
        p["currency"],
        None if items is None else json.dumps(items),
        p["express"],
        # A Connect Timestamp is epoch milliseconds.
        datetime.fromtimestamp(p["created_at"] / 1000, tz=timezone.utc),
        p["version"],
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", default="127.0.0.1:9092")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--table", default="orders")
    ap.add_argument("--mode", choices=("insert", "upsert"), default="insert")
    ap.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    args = ap.parse_args()
    start = time.monotonic()

    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    # The end of each partition now: where this run stops.
    meta = consumer.list_topics(args.topic, timeout=30)
    if meta.topics[args.topic].error is not None:
        raise KafkaException(meta.topics[args.topic].error)
    ends = {}
    for p in meta.topics[args.topic].partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=30)
        ends[p] = high
    done = {p for p, high in ends.items() if high == 0}
    consumer.subscribe([args.topic])

    query = statement(args.table, args.mode)
    rows = 0
    with psycopg.connect(os.environ["DATABASE_URL"], application_name="peers-python") as conn:
        while len(done) < len(ends):
            if time.monotonic() - start > args.timeout:
                raise TimeoutError(f"{len(ends) - len(done)} partitions not consumed after {args.timeout} s")
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            conn.execute(query, row(msg.value()))
            conn.commit()
            consumer.commit(message=msg, asynchronous=False)
            rows += 1
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
    consumer.close()
    print(f"rows={rows} seconds={time.monotonic() - start:.3f}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line, for the benchmark's log
        print(f"consumer.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
