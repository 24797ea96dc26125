"""Times DuckDB queries over one table in Delta and Iceberg (the upkeep benchmark's reader).

Usage: duckdb_queries.py SPEC.json, where SPEC holds `delta` (the Delta table's folder),
`iceberg` (its Iceberg metadata file), `day` (YYYY-MM-DD, for the one-day query) and `repeat`.
Prints one JSON object: per format and query, the rows it returned, a hash of the answer (to
tell that compaction changed none) and the median seconds of `repeat` runs after one warm-up run
(DuckDB's own caches warm, the file system's too).
"""

import hashlib
import json
import os
import statistics
import sys
import time

import duckdb


def connect():
    # The extensions come from their PyPI packages, never from DuckDB's extension server.
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


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    con = connect()
    sources = {
        "delta": f"delta_scan('{spec['delta']}')",
        "iceberg": f"iceberg_scan('{spec['iceberg']}')",
    }
    day = spec["day"]
    result = {}
    for fmt, source in sources.items():
        queries = {
            "count": f"SELECT count(*) FROM {source}",
            "group_by": f"SELECT customer, count(*), sum(amount) FROM {source} GROUP BY customer ORDER BY customer",
            "one_day": f"SELECT count(*), sum(amount) FROM {source} WHERE created_at >= TIMESTAMPTZ '{day} 00:00:00+00' AND created_at < TIMESTAMPTZ '{day} 00:00:00+00' + INTERVAL 1 DAY",
        }
        for name, query in queries.items():
            rows = con.execute(query).fetchall()
            times = []
            for _ in range(spec["repeat"]):
                started = time.perf_counter()
                con.execute(query).fetchall()
                times.append(time.perf_counter() - started)
            answer = hashlib.sha256(repr(rows).encode()).hexdigest()
            result[f"{fmt}.{name}"] = {"rows": len(rows), "answer": answer, "seconds": statistics.median(times)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
