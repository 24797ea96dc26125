"""Reads the tables Weir wrote with tools Weir did not write, and checks them against what was
produced: the Python `deltalake` package, pyiceberg and DuckDB (delta and iceberg extensions).

Usage: check_tables.py SPEC.json. The spec (written by tests/integration_readers.rs) names the
S3 server, the Delta table URIs, the Iceberg SQL catalog and the expected rows. Exits non-zero
with the first mismatch; prints one line per check that held.
"""

import datetime as dt
import json
import os
import re
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

GOLD = "gold_avg_score_daily"
LAYERS = ("bronze", "silver", "quarantine", GOLD)
SILVER_TYPES = {
    "id": pa.string(),
    "subreddit": pa.string(),
    "score": pa.int64(),
    "created_utc": pa.timestamp("us", tz="UTC"),
}


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok   {message}")


def normalise(table):
    """Readers differ in how they spell a type, not in the type: Iceberg readers name UTC
    '+00:00' and Delta readers 'UTC'; some return large strings. Compare them as one."""
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz in ("+00:00", "UTC", "Etc/UTC"):
            fields.append(pa.field(field.name, pa.timestamp("us", tz="UTC"), field.nullable))
        elif pa.types.is_large_string(field.type) or pa.types.is_string_view(field.type):
            fields.append(pa.field(field.name, pa.string(), field.nullable))
        else:
            fields.append(field)
    return table.cast(pa.schema(fields))


def check_silver(reader, table, spec):
    expected = spec["expected"]["silver"]
    # The column declared after the first run (none: the schema did not change).
    new_column = spec.get("new_column")
    table = normalise(table)
    check(table.num_rows == len(expected), f"{reader}: silver has {len(expected)} rows")
    types = {**SILVER_TYPES, new_column: pa.string()} if new_column else SILVER_TYPES
    for name, ty in types.items():
        got = table.schema.field(name).type
        check(got == ty, f"{reader}: silver.{name} is {ty} (got {got})")
    columns = ["id", "subreddit", "author", "score", "created_utc"] + ([new_column] if new_column else [])
    rows = {r["id"]: r for r in table.select(columns).to_pylist()}
    check(sorted(rows) == sorted(expected), f"{reader}: silver holds exactly the expected ids")
    for id_, want in expected.items():
        got = rows[id_]
        created = got["created_utc"].timestamp()
        same = (
            got["subreddit"] == want["subreddit"]
            and got["author"] == want["author"]
            and got["score"] == want["score"]
            and created == want["created_utc"]
            and (not new_column or got[new_column] == want[new_column])
        )
        if not same:
            fail(f"{reader}: silver row {id_} is {got}, expected {want}")
    if new_column:
        old = sum(1 for w in expected.values() if w[new_column] is None)
        print(f"ok   {reader}: every silver value matches ({old} rows from before the schema change read {new_column} as null)")
    else:
        print(f"ok   {reader}: every silver value matches")


def check_gold(reader, table, spec):
    """The gold rows as Weir wrote them: (subreddit, window start in µs, count, average)."""
    table = normalise(table)
    check(
        table.schema.field("window_start").type == pa.timestamp("us", tz="UTC"),
        f"{reader}: {GOLD}.window_start is a UTC timestamp",
    )
    starts = pc.cast(table.column("window_start"), pa.int64()).to_pylist()
    got = sorted(
        (s, w, n, round(a, 9))
        for s, w, n, a in zip(
            table.column("subreddit").to_pylist(),
            starts,
            table.column("post_count").to_pylist(),
            table.column("avg_score").to_pylist(),
        )
    )
    want = sorted((s, w, n, round(a, 9)) for s, w, n, a in spec["expected"]["gold"])
    check(len(want) > 0 and got == want, f"{reader}: {GOLD} holds the {len(want)} rows Weir wrote")


def check_layer(reader, layer, table, spec):
    """Silver and gold row by row, the other layers by their row count."""
    if layer == "silver":
        check_silver(reader, table, spec)
    elif layer == GOLD:
        check_gold(reader, table, spec)
    else:
        check(table.num_rows == spec["expected"][layer], f"{reader}: {layer} has {spec['expected'][layer]} rows")


def day_bounds(spec):
    """The UTC day of the median produced post: the day the pruning checks query."""
    times = sorted(w["created_utc"] for w in spec["expected"]["silver"].values())
    day = dt.datetime.fromtimestamp(times[len(times) // 2], dt.timezone.utc).date()
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    return day, start, start + dt.timedelta(days=1)


def expected_on_day(spec):
    _, start, end = day_bounds(spec)
    lo, hi = start.timestamp(), end.timestamp()
    return sum(1 for w in spec["expected"]["silver"].values() if lo <= w["created_utc"] < hi)


def delta_options(spec):
    return {
        "AWS_ENDPOINT_URL": spec["s3"]["endpoint"],
        "AWS_ACCESS_KEY_ID": spec["s3"]["key"],
        "AWS_SECRET_ACCESS_KEY": spec["s3"]["secret"],
        "AWS_REGION": spec["s3"]["region"],
        "AWS_ALLOW_HTTP": "true",
    }


def check_delta(spec):
    options = delta_options(spec)
    for layer in LAYERS:
        table = DeltaTable(spec["delta"][layer], storage_options=options).to_pyarrow_table()
        check_layer("deltalake", layer, table, spec)
    silver = DeltaTable(spec["delta"]["silver"], storage_options=options)
    day, _, _ = day_bounds(spec)
    every = silver.file_uris()
    that_day = silver.file_uris(file_pruning_predicate=[("created_utc_day", "=", day.isoformat())])
    check(
        0 < len(that_day) < len(every),
        f"deltalake: a one-day partition filter keeps {len(that_day)} of {len(every)} files",
    )
    rows = silver.to_pyarrow_table(filters=[("created_utc_day", "=", day)]).num_rows
    check(rows == expected_on_day(spec), f"deltalake: {rows} rows on {day}, as produced")


def iceberg_catalog(spec):
    return SqlCatalog(
        "weir",
        uri=spec["catalog_uri"],
        **{
            "s3.endpoint": spec["s3"]["endpoint"],
            "s3.access-key-id": spec["s3"]["key"],
            "s3.secret-access-key": spec["s3"]["secret"],
            "s3.region": spec["s3"]["region"],
        },
    )


def check_pyiceberg(spec):
    catalog = iceberg_catalog(spec)
    for layer in LAYERS:
        table = catalog.load_table(f"{spec['namespace']}.{layer}").scan().to_arrow()
        check_layer("pyiceberg", layer, table, spec)
    silver = catalog.load_table(f"{spec['namespace']}.silver")
    spec_fields = [(f.name, str(f.transform)) for f in silver.spec().fields]
    check(spec_fields == [("created_utc_day", "day")], f"pyiceberg: silver is partitioned by {spec_fields}")
    day, start, end = day_bounds(spec)
    every = list(silver.scan().plan_files())
    flt = And(GreaterThanOrEqual("created_utc", start.isoformat()), LessThan("created_utc", end.isoformat()))
    planned = list(silver.scan(row_filter=flt).plan_files())
    check(
        0 < len(planned) < len(every),
        f"pyiceberg: a one-day filter plans {len(planned)} of {len(every)} files",
    )
    ordinal = (day - dt.date(1970, 1, 1)).days
    check(
        all(task.file.partition[0] == ordinal for task in planned),
        f"pyiceberg: every planned file is in the {day} partition",
    )
    rows = silver.scan(row_filter=flt).to_arrow().num_rows
    check(rows == expected_on_day(spec), f"pyiceberg: {rows} rows on {day}, as produced")
    return {layer: catalog.load_table(f"{spec['namespace']}.{layer}").metadata_location for layer in LAYERS}


def duckdb_connection(spec):
    # The extensions come from their PyPI packages, never from DuckDB's extension server.
    site = os.path.dirname(os.path.dirname(duckdb.__file__))
    config = {
        "extension_directory": os.path.join(site, "duckdb_ext", "extensions"),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(config=config)
    for ext in ("httpfs", "avro", "iceberg", "delta"):
        con.execute(f"LOAD {ext}")
    endpoint = spec["s3"]["endpoint"].removeprefix("http://")
    con.execute(
        "CREATE SECRET weir (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL false)",
        [spec["s3"]["key"], spec["s3"]["secret"], spec["s3"]["region"], endpoint],
    )
    return con


def check_duckdb(spec, metadata):
    con = duckdb_connection(spec)
    for fmt, source in (
        ("delta", lambda layer: f"delta_scan('{spec['delta'][layer]}')"),
        ("iceberg", lambda layer: f"iceberg_scan('{metadata[layer]}')"),
    ):
        reader = f"duckdb {fmt}"
        for layer in LAYERS:
            if layer in ("silver", GOLD):
                table = con.execute(f"SELECT * FROM {source(layer)}").arrow()
                if isinstance(table, pa.RecordBatchReader):
                    table = table.read_all()
                check_layer(reader, layer, table, spec)
            else:
                (count,) = con.execute(f"SELECT count(*) FROM {source(layer)}").fetchone()
                check(count == spec["expected"][layer], f"{reader}: {layer} has {spec['expected'][layer]} rows")
        day, start, end = day_bounds(spec)
        if fmt == "delta":
            # Delta has no hidden partitioning: a query prunes on the derived partition column.
            where = f"created_utc_day = DATE '{day.isoformat()}'"
        else:
            where = f"created_utc >= TIMESTAMPTZ '{start.isoformat()}' AND created_utc < TIMESTAMPTZ '{end.isoformat()}'"
        query = f"SELECT count(*) FROM {source('silver')} WHERE {where}"
        (count,) = con.execute(query).fetchone()
        check(count == expected_on_day(spec), f"{reader}: {count} rows on {day}, as produced")
        read = files_read(con, query)
        total = files_read(con, f"SELECT count(*) FROM {source('silver')}")
        check(0 < read < total, f"{reader}: the one-day query reads {read} of {total} files")


def files_read(con, query):
    """How many data files a query reads, as DuckDB's EXPLAIN ANALYZE reports it."""
    plan = "\n".join(row[1] for row in con.execute(f"EXPLAIN ANALYZE {query}").fetchall())
    match = re.search(r"Total Files Read:\s*(\d+)", plan)
    if not match:
        fail(f"no file count in the plan of {query}:\n{plan}")
    return int(match.group(1))


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    check_delta(spec)
    metadata = check_pyiceberg(spec)
    check_duckdb(spec, metadata)
    print("all readers agree with what was produced")


if __name__ == "__main__":
    main()
