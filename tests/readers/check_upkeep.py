"""What table upkeep left, read with tools Weir did not write: the Python `deltalake` package,
pyiceberg and DuckDB. The rows themselves are check_tables.py's business; this checks the rest.

Usage:
  check_upkeep.py record SPEC.json OUT.json
      Each table's current Delta version and Iceberg snapshot id, with a fingerprint of its rows
      (before upkeep runs).
  check_upkeep.py check SPEC.json RECORDED.json
      - time travel: each recorded Delta version and Iceberg snapshot still reads the recorded
        rows, with every reader;
      - small files: no partition of any table holds more than spec["max_files_per_partition"]
        live data files;
      - upkeep's commits are there: a Delta OPTIMIZE and an Iceberg `replace` snapshot in every
        table that had small files;
      - offsets: each table's offsets are spec["offsets"] (Delta `txn` versions, Iceberg
        snapshot summary).

The spec is check_tables.py's, plus `max_files_per_partition` and `offsets` ({app id: next}).
Exits non-zero at the first mismatch; prints one line per check that held.
"""

import hashlib
import json
import os
import sys
from collections import Counter

import pyarrow as pa
from deltalake import DeltaTable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_tables as ct  # noqa: E402

LAYERS = ("bronze", "silver", "quarantine")
KEYS = {"bronze": ["_kafka_partition", "_kafka_offset"], "quarantine": ["_kafka_partition", "_kafka_offset", "stage"], "silver": ["id"]}


def fingerprint(layer, table):
    """Rows, and a hash of their sorted keys: equal exactly when the same rows are there."""
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    keys = sorted(json.dumps(r, sort_keys=True, default=str) for r in table.select(KEYS[layer]).to_pylist())
    return {"rows": len(keys), "hash": hashlib.sha256("\n".join(keys).encode()).hexdigest()}


def record(spec, out):
    options = ct.delta_options(spec)
    catalog = ct.iceberg_catalog(spec)
    recorded = {"delta": {}, "iceberg": {}}
    for layer in LAYERS:
        delta = DeltaTable(spec["delta"][layer], storage_options=options)
        recorded["delta"][layer] = {"version": delta.version(), **fingerprint(layer, delta.to_pyarrow_table())}
        iceberg = catalog.load_table(f"{spec['namespace']}.{layer}")
        snapshot = iceberg.current_snapshot().snapshot_id
        recorded["iceberg"][layer] = {"snapshot": snapshot, **fingerprint(layer, iceberg.scan(snapshot_id=snapshot).to_arrow())}
    with open(out, "w") as f:
        json.dump(recorded, f)
    print(json.dumps(recorded))


def check_time_travel(spec, recorded):
    options = ct.delta_options(spec)
    catalog = ct.iceberg_catalog(spec)
    con = ct.duckdb_connection(spec)
    for layer in LAYERS:
        was = recorded["delta"][layer]
        old = DeltaTable(spec["delta"][layer], version=was["version"], storage_options=options)
        got = fingerprint(layer, old.to_pyarrow_table())
        ct.check(got == {k: was[k] for k in got}, f"deltalake: {layer} at version {was['version']} reads its {was['rows']} rows")
        con.execute(f"ATTACH '{spec['delta'][layer]}' AS old_{layer} (TYPE delta, VERSION {was['version']})")
        got = fingerprint(layer, con.execute(f"SELECT * FROM old_{layer}").arrow())
        ct.check(got == {k: was[k] for k in got}, f"duckdb delta: {layer} at version {was['version']} reads its {was['rows']} rows")

        was = recorded["iceberg"][layer]
        table = catalog.load_table(f"{spec['namespace']}.{layer}")
        got = fingerprint(layer, table.scan(snapshot_id=was["snapshot"]).to_arrow())
        ct.check(got == {k: was[k] for k in got}, f"pyiceberg: {layer} at snapshot {was['snapshot']} reads its {was['rows']} rows")
        query = f"SELECT * FROM iceberg_scan('{table.metadata_location}', snapshot_from_id => {was['snapshot']})"
        got = fingerprint(layer, con.execute(query).arrow())
        ct.check(got == {k: was[k] for k in got}, f"duckdb iceberg: {layer} at snapshot {was['snapshot']} reads its {was['rows']} rows")


def check_files(spec):
    """Live data files per partition, and upkeep's commits in each table's history."""
    most = spec["max_files_per_partition"]
    options = ct.delta_options(spec)
    catalog = ct.iceberg_catalog(spec)
    for layer in LAYERS + (ct.GOLD,):
        delta = DeltaTable(spec["delta"][layer], storage_options=options)
        actions = delta.get_add_actions(flatten=True)
        actions = actions.to_pyarrow_table() if hasattr(actions, "to_pyarrow_table") else pa.table(actions)
        parts = [c for c in actions.column_names if c.startswith("partition.")]
        per = Counter(tuple(r[c] for c in parts) for r in actions.select(parts).to_pylist()) if parts else Counter({(): actions.num_rows})
        top = max(per.values(), default=0)
        ct.check(top <= most, f"deltalake: {layer} holds at most {top} data files in a partition ({actions.num_rows} in {len(per)})")
        table = catalog.load_table(f"{spec['namespace']}.{layer}")
        files = table.inspect.files()
        per = Counter(json.dumps(p, sort_keys=True, default=str) for p in files.column("partition").to_pylist())
        top = max(per.values(), default=0)
        ct.check(top <= most, f"pyiceberg: {layer} holds at most {top} data files in a partition ({files.num_rows} in {len(per)})")
        if layer == ct.GOLD:
            continue
        operations = [h.get("operation") for h in delta.history()]
        ct.check("OPTIMIZE" in operations, f"deltalake: {layer}'s history has an OPTIMIZE commit")
        ops = [s.summary.operation.value for s in table.snapshots()]
        ct.check("replace" in ops and ops[-1] in ("append", "replace"), f"pyiceberg: {layer} has {ops.count('replace')} replace snapshots among {len(ops)}")


def check_offsets(spec):
    options = ct.delta_options(spec)
    catalog = ct.iceberg_catalog(spec)
    for layer in LAYERS:
        delta = DeltaTable(spec["delta"][layer], storage_options=options)
        summary = catalog.load_table(f"{spec['namespace']}.{layer}").current_snapshot().summary
        for app_id, want in spec["offsets"].items():
            got = delta.transaction_version(app_id)
            ct.check(got == want, f"deltalake: {layer} holds {app_id} up to offset {want} (got {got})")
            got = summary[f"weir.offset.{app_id}"]
            ct.check(got == str(want), f"pyiceberg: {layer} holds {app_id} up to offset {want} (got {got})")


def main():
    mode, spec_file, other = sys.argv[1:4]
    with open(spec_file) as f:
        spec = json.load(f)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    if mode == "record":
        record(spec, other)
        return
    with open(other) as f:
        recorded = json.load(f)
    check_time_travel(spec, recorded)
    check_files(spec)
    check_offsets(spec)
    print("upkeep left every table as it should")


if __name__ == "__main__":
    main()
