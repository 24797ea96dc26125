"""What the registry tests' producers share: the broken records every encoding gets, and the
summary a producer leaves for the test (tests/integration_registry.rs)."""

import json
import struct
import sys


def header_broken(phase, j, valid):
    """Records with no readable Confluent header, or an id the registry does not know, made
    from `valid` (a framed record of the phase's schema)."""
    return [
        ("json", json.dumps({"id": f"bad{phase}-{j}", "user": "u", "qty": 1}).encode()),
        ("unknown id", b"\x00" + struct.pack(">I", 999_999) + valid[5:]),
        ("magic", b"\x01" + valid[1:]),
    ]


def finish(producer, out, phase, count, valid, expected, broken):
    """Waits for every acknowledgement, then writes the summary to `out`."""
    if producer.flush(60) != 0:
        sys.exit("not every record was acknowledged")
    schema_id = struct.unpack(">I", valid[1:5])[0]
    with open(out, "w") as f:
        json.dump({"schema_id": schema_id, "records": expected, "broken": broken}, f)
    print(f"phase {phase}: {count} records with schema id {schema_id}, {len(broken)} broken")
