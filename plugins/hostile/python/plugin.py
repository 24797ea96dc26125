"""Hostile test plugin, in Python. Per record:

- ``{"spin": true}``: loops forever (the deadline must stop it);
- ``{"bomb": true}``: allocates 16 MiB blocks without end (the memory cap must stop it);
- ``{"raise": true}``: raises (only that record may be rejected);
- ``{"escape": true}``: tries to read the file and connect to the port of its config, list the
  root folder, read the environment and look a name up, and reports what it got as its output
  (every attempt must come back empty or as an error);
- anything else: accepted as it is.

It prints a line to stdout and to stderr on every escape, which the host must log.
Config: ``{"file": "/etc/hostname", "port": 9}``.
"""

import os
import sys

import weir_sdk as weir


def attempt(call):
    try:
        return {"ok": str(call())}
    except BaseException as e:  # noqa: BLE001 - the report says what the sandbox answered
        return {"err": f"{type(e).__name__}: {e}"}


def read(path):
    with open(path) as f:
        return f.read()


def connect(port):
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return "connected"


def lookup(name):
    import socket

    return socket.getaddrinfo(name, 80)


@weir.transform
class Hostile:
    def __init__(self, config):
        self.file = config.get("file", "/etc/hostname")
        self.port = int(config.get("port", 9))

    def process(self, record, context):
        value = record.json()
        if value.get("spin"):
            while True:
                pass
        if value.get("bomb"):
            hoard = []
            while True:
                hoard.append(bytearray(16 << 20))
        if value.get("raise"):
            raise RuntimeError(f"poison record: {record.value}")
        if value.get("escape"):
            return weir.Outcome.accept(record.with_json(self.escape()))
        return weir.Outcome.accept(record.value, key=record.key, timestamp_ms=record.timestamp_ms)

    def escape(self):
        print("hostile-py: stdout line")
        print("hostile-py: stderr line", file=sys.stderr)
        return {
            "file": attempt(lambda: read(self.file)),
            "root": attempt(lambda: len(os.listdir("/"))),
            "socket": attempt(lambda: connect(self.port)),
            "lookup": attempt(lambda: lookup("localhost")),
            "env": sorted(f"{k}={v}" for k, v in os.environ.items()),
            "home": os.environ.get("HOME"),
            "args": sys.argv,
        }
