"""Produces Protobuf records the way a real producer does: confluent-kafka's ProtobufSerializer,
which registers its schema (and its imports) with the registry (the tests' stand-in,
tests/common/registry.rs) and frames each record with the Confluent header and the message
indexes. The message classes are built from descriptors here (no protoc on these machines);
`Order` is the file's second message, so its index path is [1]. Also produces broken records:
JSON text, an unknown id, a wrong magic byte, a truncated message, bytes that are no message,
and valid Protobuf of a third schema whose values do not fit silver's columns.

Usage: produce_protobuf.py BROKERS REGISTRY_URL TOPIC PHASE COUNT OUT.json (as produce_avro.py)
"""

import datetime as dt
import struct
import sys

from produced import finish, header_broken

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

F = descriptor_pb2.FieldDescriptorProto
BASE = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)


def order_class(version):
    """shop.Order of schema `version`: 1, 2 (adds optional note, price as decimal text, and a
    nested Ship with repeated tags) or "misfit" (qty a double, user an int64, at an int64)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="shop/order.proto", package="shop", syntax="proto3", dependency=["google/protobuf/timestamp.proto"]
    )
    file.message_type.add(name="Meta").field.add(name="source", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    order = file.message_type.add(name="Order")

    def field(name, number, kind, **more):
        order.field.add(name=name, number=number, type=kind, label=more.pop("label", F.LABEL_OPTIONAL), **more)

    field("id", 1, F.TYPE_STRING)
    if version == "misfit":
        # Each field optional (proto3 presence), so a record holds only the one that misfits.
        for index, (name, kind) in enumerate([("user", F.TYPE_INT64), ("qty", F.TYPE_DOUBLE), ("at", F.TYPE_INT64)]):
            order.oneof_decl.add(name=f"_{name}")
            field(name, index + 2, kind, proto3_optional=True, oneof_index=index)
    else:
        field("user", 2, F.TYPE_STRING)
        field("qty", 3, F.TYPE_INT32)
        field("at", 4, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    if version == 2:
        order.oneof_decl.add(name="_note")
        field("note", 5, F.TYPE_STRING, proto3_optional=True, oneof_index=0)
        field("price", 6, F.TYPE_STRING)
        ship = order.nested_type.add(name="Ship")
        ship.field.add(name="city", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        ship.field.add(name="tags", number=2, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
        field("ship", 7, F.TYPE_MESSAGE, type_name=".shop.Order.Ship")
    pool = descriptor_pool.DescriptorPool()
    timestamp = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamp)
    pool.Add(timestamp)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


def order(cls, phase, i):
    at = BASE + dt.timedelta(seconds=i, milliseconds=i % 1000)
    message = cls(id=f"o{phase}-{i}", user=f"u{i % 7}", qty=i % 100)
    message.at.FromDatetime(at)
    expected = {
        "user": f"u{i % 7}",
        "qty": i % 100,
        "at_ms": int(BASE.timestamp()) * 1000 + i * 1000 + i % 1000,
        "note": None,
        "price": None,
        "ship": None,
    }
    if phase == 2:
        cents = i * 7 - 5000
        price = f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"
        message.price = price
        note = None if i % 3 == 0 else f"note {i}"
        if note is not None:
            message.note = note
        ship = None if i % 5 == 0 else {"city": f"c{i % 4}", "tags": [f"t{j}" for j in range(i % 3)]}
        if ship is not None:
            message.ship.city = ship["city"]
            message.ship.tags.extend(ship["tags"])
        expected.update(note=note, price=price, ship=ship)
    return message, expected


def main():
    brokers, registry_url, topic, phase, count, out = sys.argv[1:7]
    phase, count = int(phase), int(count)
    registry = SchemaRegistryClient({"url": registry_url})
    context = SerializationContext(topic, MessageField.VALUE)
    conf = {"auto.register.schemas": True, "use.deprecated.format": False}
    cls = order_class(phase)
    serializer = ProtobufSerializer(cls, registry, conf)
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "acks": "all"})
    expected, valid = {}, None
    for i in range(count):
        message, want = order(cls, phase, i)
        valid = serializer(message, context)
        producer.produce(topic, key=message.id.encode(), value=valid)
        expected[message.id] = want
        if i % 1000 == 0:
            producer.poll(0)
    schema_id = struct.unpack(">I", valid[1:5])[0]
    # magic, id, the index path [1] (zigzag varints: count 1, index 1), then the message.
    header = 7
    assert valid[5:header] == b"\x02\x02", valid[:header]
    broken = []
    for j in range(5):
        if phase == 1:
            kinds = header_broken(phase, j, valid)
        else:
            kinds = [
                # Cut inside the first field (the id's text): no message ends there.
                ("truncated", valid[: header + 3]),
                ("mismatch", valid[:header] + b"\xff" * 9),
            ]
        for kind, value in kinds:
            producer.produce(topic, key=f"bad{phase}-{kind}-{j}".encode(), value=value)
            broken.append(kind)
    if phase == 2:
        misfit_cls = order_class("misfit")
        misfit = ProtobufSerializer(misfit_cls, registry, conf)
        for j in range(5):
            for kind, fields in [
                ("misfit qty", {"id": f"bad2-qty-{j}", "qty": 1.5}),
                ("misfit user", {"id": f"bad2-user-{j}", "user": 12345}),
                ("misfit at", {"id": f"bad2-at-{j}", "at": 253402300799}),
            ]:
                producer.produce(topic, key=f"bad2-{kind}-{j}".encode(), value=misfit(misfit_cls(**fields), context))
                broken.append(kind)
    finish(producer, out, phase, count, valid, expected, broken)


if __name__ == "__main__":
    main()
