"""Reads the silver tables of tests/integration_registry.rs (Avro and Protobuf) with tools Weir did not write (the Python
deltalake package, pyiceberg, DuckDB with its delta and iceberg extensions) and checks every row
against what the producer wrote: the decimal, the timestamp, the struct with its list, and null
in v2's columns for v1 rows. Exits non-zero at the first mismatch.

Usage: check_tables.py SPEC.json
"""

import decimal
import json
import os
import sys

import duckdb
import pyarrow as pa
from deltalake import DeltaTable
from pyiceberg.catalog.sql import SqlCatalog


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok   {message}")


def check_types(reader, table):
    schema = table.schema
    price = schema.field("price").type
    check(pa.types.is_decimal(price) and (price.precision, price.scale) == (10, 2), f"{reader}: price is {price}")
    at = schema.field("at").type
    check(pa.types.is_timestamp(at) and at.tz in ("UTC", "+00:00", "Etc/UTC"), f"{reader}: at is {at}")
    ship = schema.field("ship").type
    check(pa.types.is_struct(ship), f"{reader}: ship is a struct ({ship})")
    tags = ship.field("tags").type
    check(pa.types.is_list(tags) or pa.types.is_large_list(tags), f"{reader}: ship.tags is a list ({tags})")


def check_rows(reader, table, expected):
    check_types(reader, table)
    rows = {r["id"]: r for r in table.to_pylist()}
    check(sorted(rows) == sorted(expected), f"{reader}: silver holds exactly the {len(expected)} produced ids")
    v1_rows = 0
    for id_, want in expected.items():
        got = rows[id_]
        at_ms = round(got["at"].timestamp() * 1000)
        price = None if got["price"] is None else str(got["price"])
        ship = got["ship"]
        if ship is not None:
            ship = {"city": ship["city"], "tags": list(ship["tags"])}
        same = (
            got["user"] == want["user"]
            and got["qty"] == want["qty"]
            and at_ms == want["at_ms"]
            and got["note"] == want["note"]
            and price == want["price"]
            and ship == want["ship"]
        )
        if not same:
            fail(f"{reader}: row {id_} is {got}, expected {want}")
        if id_.startswith("o1-"):
            v1_rows += 1
            if got["note"] is not None or got["price"] is not None or got["ship"] is not None:
                fail(f"{reader}: v1 row {id_} has a value in a v2 column: {got}")
    print(f"ok   {reader}: every value matches, decimals, timestamps, structs and lists ({v1_rows} v1 rows null in v2's columns)")


def duckdb_connection():
    site = os.path.dirname(os.path.dirname(duckdb.__file__))
    config = {
        "extension_directory": os.path.join(site, "duckdb_ext", "extensions"),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(config=config)
    for ext in ("iceberg", "delta"):
        con.execute(f"LOAD {ext}")
    return con


def arrow(result):
    table = result.arrow()
    return table.read_all() if isinstance(table, pa.RecordBatchReader) else table


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    expected = {}
    for phase in spec["expected"]:
        expected.update(phase)
    check_rows("deltalake", DeltaTable(spec["delta_silver"]).to_pyarrow_table(), expected)
    catalog = SqlCatalog("weir", uri=f"sqlite:///{spec['catalog']}")
    silver = catalog.load_table(f"{spec['namespace']}.silver")
    check_rows("pyiceberg", silver.scan().to_arrow(), expected)
    con = duckdb_connection()
    check_rows("duckdb delta", arrow(con.execute(f"SELECT * FROM delta_scan('{spec['delta_silver']}')")), expected)
    metadata = silver.metadata_location
    check_rows("duckdb iceberg", arrow(con.execute(f"SELECT * FROM iceberg_scan('{metadata}')")), expected)
    print("all readers agree with what was produced")


if __name__ == "__main__":
    decimal.getcontext().prec = 38
    main()
