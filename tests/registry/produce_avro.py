"""Produces Avro records the way a real producer does: confluent-kafka's AvroSerializer, which
registers its schema with the registry (the tests' stand-in, tests/common/registry.rs) and frames
each record with the Confluent header. Also produces broken records of the kinds a real topic
gets: JSON text on an Avro topic, an id the registry does not know, a truncated body, a body that
does not match its schema.

Usage: produce_avro.py BROKERS REGISTRY_URL TOPIC PHASE COUNT OUT.json
  PHASE 1 writes COUNT records with schema v1, and 15 broken ones (JSON text, an unknown id, a
  wrong magic byte). PHASE 2 writes COUNT records with v2 (adds an optional note, a decimal price
  and a nested ship record with a list of tags), and 25 broken ones (truncated, mismatched, and
  valid Avro of a third schema whose values do not fit silver's columns).
  OUT.json gets, per produced record id, the values a reader must find in silver, and the broken
  records' kinds.
"""

import datetime as dt
import decimal
import json
import struct
import sys

from produced import finish, header_broken

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

V1 = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "user", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}
V2 = {
    **V1,
    "fields": V1["fields"]
    + [
        {"name": "note", "type": ["null", "string"], "default": None},
        {
            "name": "price",
            "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}],
            "default": None,
        },
        {
            "name": "ship",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Ship",
                    "fields": [
                        {"name": "city", "type": "string"},
                        {"name": "tags", "type": {"type": "array", "items": "string"}},
                    ],
                },
            ],
            "default": None,
        },
    ],
}
# A producer whose schema does not fit silver's columns: a double into int32 `qty`, a long into
# string `user`, a plain long (no timestamp logical type) into timestamp `at`, which declares
# no epoch unit. Valid Avro; silver refuses each with the column and the reason.
MISFIT = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "user", "type": ["string", "long"]},
        {"name": "qty", "type": ["int", "double"]},
        {"name": "at", "type": ["long", {"type": "long", "logicalType": "timestamp-millis"}]},
    ],
}
BASE = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)


def order(phase, i):
    at = BASE + dt.timedelta(seconds=i, milliseconds=i % 1000)
    record = {"id": f"o{phase}-{i}", "user": f"u{i % 7}", "qty": i % 100, "at": at}
    expected = {
        "user": record["user"],
        "qty": record["qty"],
        "at_ms": int(BASE.timestamp()) * 1000 + i * 1000 + i % 1000,
        "note": None,
        "price": None,
        "ship": None,
    }
    if phase == 2:
        price = decimal.Decimal(i * 7 - 5000).scaleb(-2)
        record["note"] = None if i % 3 == 0 else f"note {i}"
        record["price"] = price
        record["ship"] = None if i % 5 == 0 else {"city": f"c{i % 4}", "tags": [f"t{j}" for j in range(i % 3)]}
        expected.update(note=record["note"], price=str(price), ship=record["ship"])
    return record, expected


def main():
    brokers, registry_url, topic, phase, count, out = sys.argv[1:7]
    phase, count = int(phase), int(count)
    registry = SchemaRegistryClient({"url": registry_url})
    schema = json.dumps(V1 if phase == 1 else V2)
    serializer = AvroSerializer(registry, schema, conf={"auto.register.schemas": True})
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "acks": "all"})
    context = SerializationContext(topic, MessageField.VALUE)
    expected = {}
    valid = None
    for i in range(count):
        record, want = order(phase, i)
        value = serializer(record, context)
        valid = value
        producer.produce(topic, key=record["id"].encode(), value=value)
        expected[record["id"]] = want
        if i % 1000 == 0:
            producer.poll(0)
    schema_id = struct.unpack(">I", valid[1:5])[0]
    broken = []
    for j in range(5):
        if phase == 1:
            kinds = header_broken(phase, j, valid)
        else:
            kinds = [
                ("truncated", valid[: len(valid) - 4]),
                ("mismatch", b"\x00" + struct.pack(">I", schema_id) + b"\xff" * 9),
            ]
        for kind, value in kinds:
            producer.produce(topic, key=f"bad{phase}-{kind}-{j}".encode(), value=value)
            broken.append(kind)
    if phase == 2:
        misfit = AvroSerializer(registry, json.dumps(MISFIT), conf={"auto.register.schemas": True})
        good_at = BASE
        for j in range(5):
            for kind, record in [
                ("misfit qty", {"id": f"bad2-qty-{j}", "user": "u", "qty": 1.5, "at": good_at}),
                ("misfit user", {"id": f"bad2-user-{j}", "user": 12345, "qty": 1, "at": good_at}),
                ("misfit at", {"id": f"bad2-at-{j}", "user": "u", "qty": 1, "at": 253402300799}),
            ]:
                value = misfit(record, context)
                producer.produce(topic, key=f"bad{phase}-{kind}-{j}".encode(), value=value)
                broken.append(kind)
    finish(producer, out, phase, count, valid, expected, broken)


if __name__ == "__main__":
    main()
