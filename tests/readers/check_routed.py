"""Reads the routed tables of tests/integration_routing.rs with tools Weir did not write: every
silver table through the Python `deltalake` package, pyiceberg and DuckDB must hold exactly the
keys routed to it, and bronze (partitioned by the day rows were taken) must answer a one-day
query from that day's files only.

Usage: check_routed.py SPEC.json (tables in a local folder, Iceberg in its SQLite catalog).
Exits non-zero with the first mismatch; prints one line per check that held.
"""

import datetime as dt
import json
import os
import sys

import duckdb
from deltalake import DeltaTable
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

from check_tables import check, files_read


def duckdb_local():
    site = os.path.dirname(os.path.dirname(duckdb.__file__))
    config = {
        "extension_directory": os.path.join(site, "duckdb_ext", "extensions"),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(config=config)
    for ext in ("avro", "iceberg", "delta"):
        con.execute(f"LOAD {ext}")
    return con


def local(uri):
    """A file:// URI as the path DuckDB opens."""
    return uri.removeprefix("file://")


def check_silver(spec, catalog, con):
    for table, want in spec["silver"].items():
        key, keys = want["key"], sorted(want["keys"])
        path = os.path.join(spec["root"], table)
        readers = {
            "deltalake": lambda: DeltaTable(path).to_pyarrow_table(columns=[key]).column(key).to_pylist(),
            "pyiceberg": lambda: catalog.load_table(f"{spec['namespace']}.{table}").scan(selected_fields=(key,)).to_arrow().column(key).to_pylist(),
            "duckdb delta": lambda: [r[0] for r in con.execute(f"SELECT {key} FROM delta_scan('{path}')").fetchall()],
            "duckdb iceberg": lambda: [
                r[0]
                for r in con.execute(
                    f"SELECT {key} FROM iceberg_scan('{local(catalog.load_table(spec['namespace'] + '.' + table).metadata_location)}')"
                ).fetchall()
            ],
        }
        for reader, read in readers.items():
            got = read()
            check(sorted(got) == keys, f"{reader}: {table} holds exactly its {len(keys)} keys, each once")


def check_bronze(spec, catalog, con):
    bronze = spec["bronze"]
    day = dt.date.fromisoformat(bronze["day"])
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    end = start + dt.timedelta(days=1)
    path = os.path.join(spec["root"], "bronze")

    delta = DeltaTable(path)
    check(delta.metadata().partition_columns == ["_ingested_at_day"], "deltalake: bronze is partitioned by _ingested_at_day")
    every = delta.file_uris()
    that_day = delta.file_uris(file_pruning_predicate=[("_ingested_at_day", "=", day.isoformat())])
    check(0 < len(that_day) < len(every), f"deltalake: a one-day filter on bronze keeps {len(that_day)} of {len(every)} files")
    rows = delta.to_pyarrow_table(filters=[("_ingested_at_day", "=", day)]).num_rows
    check(rows == bronze["day_rows"], f"deltalake: {rows} bronze rows on {day}")

    iceberg = catalog.load_table(f"{spec['namespace']}.bronze")
    fields = [(f.name, str(f.transform)) for f in iceberg.spec().fields]
    check(fields == [("_ingested_at_day", "day")], f"pyiceberg: bronze is partitioned by {fields}")
    flt = And(GreaterThanOrEqual("_ingested_at", start.isoformat()), LessThan("_ingested_at", end.isoformat()))
    planned = list(iceberg.scan(row_filter=flt).plan_files())
    every = list(iceberg.scan().plan_files())
    check(0 < len(planned) < len(every), f"pyiceberg: a one-day filter on bronze plans {len(planned)} of {len(every)} files")
    rows = iceberg.scan(row_filter=flt).to_arrow().num_rows
    check(rows == bronze["day_rows"], f"pyiceberg: {rows} bronze rows on {day}")

    for reader, source, where in (
        ("duckdb delta", f"delta_scan('{path}')", f"_ingested_at_day = DATE '{day.isoformat()}'"),
        (
            "duckdb iceberg",
            f"iceberg_scan('{local(iceberg.metadata_location)}')",
            f"_ingested_at >= TIMESTAMPTZ '{start.isoformat()}' AND _ingested_at < TIMESTAMPTZ '{end.isoformat()}'",
        ),
    ):
        (total,) = con.execute(f"SELECT count(*) FROM {source}").fetchone()
        check(total == bronze["rows"], f"{reader}: bronze has {total} rows")
        query = f"SELECT count(*) FROM {source} WHERE {where}"
        (count,) = con.execute(query).fetchone()
        check(count == bronze["day_rows"], f"{reader}: {count} bronze rows on {day}")
        read, every = files_read(con, query), files_read(con, f"SELECT count(*) FROM {source}")
        check(0 < read < every, f"{reader}: the one-day query on bronze reads {read} of {every} files")


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    catalog = SqlCatalog("weir", uri=spec["catalog_uri"], warehouse=f"file://{spec['root']}/iceberg")
    con = duckdb_local()
    check_silver(spec, catalog, con)
    check_bronze(spec, catalog, con)
    print("all readers agree with what was produced")


if __name__ == "__main__":
    main()
