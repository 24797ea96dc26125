"""The intake benchmark's baseline: Python's confluent-kafka producer (librdkafka underneath)
writing the same records to the same broker with the same settings as Weir's intake producer
(acks=all, idempotent, linger 5 ms, lz4), as fast as it can for a fixed time. Counts only the
records the broker acknowledged. Prints one JSON line: {"records": n, "seconds": s}.

    python produce_baseline.py BROKERS TOPIC SECONDS VALUE_FILE
"""
import json
import sys
import time

from confluent_kafka import Producer


def main():
    brokers, topic, seconds, value_file = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    with open(value_file, "rb") as f:
        value = f.read()
    producer = Producer({
        "bootstrap.servers": brokers,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
    })
    acknowledged = 0

    def delivered(error, _message):
        nonlocal acknowledged
        if error is None:
            acknowledged += 1

    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            producer.produce(topic, key=b"k%d" % (sent % 1000), value=value, on_delivery=delivered)
            sent += 1
        except BufferError:
            producer.poll(0.05)  # the local queue is full: wait for acknowledgements
        if sent % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    print(json.dumps({"records": acknowledged, "seconds": time.monotonic() - started}))


if __name__ == "__main__":
    main()
