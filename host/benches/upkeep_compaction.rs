//! What compaction buys readers, in one run: a silver table (partitioned by day, Delta and
//! Iceberg) written from memory in many small commits, as a streaming writer leaves it; DuckDB
//! queries over it timed (a count, a group-by, a one-day filter); then table upkeep (compaction,
//! as `weir run` schedules it), and the same queries timed again on the same tables. Prints the
//! median seconds of each query before and after, rows/s scanned, the ratio after/before
//! (`ratio duckdb_<format>_<query>_after_vs_before`), files before and after, compaction's rows/s
//! and peak memory. Run: `scripts/bench.sh upkeep`.
#![allow(clippy::unwrap_used)] // a benchmark: panicking is how it fails

#[path = "support/memory.rs"]
mod memory;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use weir::config::{self, Pipeline, TableFormat};
use weir::pipeline::{PipelineRunner, Tables};
use weir::plugin::PluginEngine;
use weir::source::{PartitionBatch, SourceRecord};
use weir::tables::upkeep::{Actions, Upkeep};

const RECORDS: usize = 200_000;
const COMMITS: usize = 500;
const PARTITIONS: usize = 4;
/// Days the records' `created_at` spans: the silver partitions.
const DAYS: i64 = 4;
const REPEAT: usize = 5;
const START: i64 = 1_793_491_200;

const PIPELINE: &str = r#"
[source]
brokers = "127.0.0.1:1"
topic = "orders"
group = "bench"

[tables]
location = "LAKE"
format = ["delta", "iceberg"]

[tables.silver]
key = ["id"]
columns = [
  { name = "id", type = "string", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "int64" },
  { name = "created_at", type = "timestamp", unit = "s" },
]
partition_by = { column = "created_at", transform = "day" }

[commit]
max_records = 1000000
"#;

fn pipeline(dir: &Path) -> Pipeline {
    let folder = dir.join("orders");
    std::fs::create_dir_all(&folder).unwrap();
    let lake = dir.join("lake").display().to_string();
    std::fs::write(folder.join("pipeline.toml"), PIPELINE.replace("LAKE", &lake)).unwrap();
    config::load(&folder.join("pipeline.toml"), &config::from_map(&Default::default())).unwrap()
}

/// Order `i`: spread evenly over `DAYS` days in offset order, as a stream delivers them.
fn order(i: usize) -> String {
    let created = START + (i as i64) * DAYS * 86_400 / RECORDS as i64;
    format!(
        r#"{{"id":"o{i}","customer":"c{}","amount":{},"created_at":{created}}}"#,
        i % 997,
        i % 500
    )
}

/// The records in `COMMITS` polls, one partition batch per partition each.
fn polls() -> Vec<Vec<PartitionBatch>> {
    let per_poll = RECORDS / COMMITS;
    let mut next = [0i64; PARTITIONS];
    (0..COMMITS)
        .map(|c| {
            let mut batches: Vec<PartitionBatch> = (0..PARTITIONS)
                .map(|p| PartitionBatch {
                    topic: "orders".into(),
                    partition: p as i32,
                    records: Vec::new(),
                })
                .collect();
            for i in c * per_poll..(c + 1) * per_poll {
                let p = i % PARTITIONS;
                next[p] += 1;
                batches[p].records.push(SourceRecord {
                    partition: p as i32,
                    offset: next[p] - 1,
                    timestamp_ms: Some(START * 1000),
                    key: None,
                    value: Some(order(i).into_bytes()),
                    headers: Vec::new(),
                    malformed: None,
                });
            }
            batches
        })
        .collect()
}

/// The median seconds and rows of each query, as duckdb_queries.py prints them.
fn time_queries(spec: &serde_json::Value, work: &Path) -> serde_json::Value {
    let file = work.join("query-spec.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    let python = std::env::var_os("WEIR_READERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/weir/tools/readers"))
        .join("bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/duckdb_queries.py");
    let out = Command::new(python).arg(script).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The silver table's Delta folder and current Iceberg metadata file.
async fn silver_spec(pipeline: &Pipeline) -> serde_json::Value {
    let tables = Tables::open(pipeline).await.unwrap();
    let iceberg = tables.silver[0]
        .sinks
        .iter()
        .find(|s| s.format() == TableFormat::Iceberg)
        .and_then(|s| s.metadata_location().map(str::to_string))
        .unwrap();
    let day = chrono::DateTime::from_timestamp(START + 86_400, 0)
        .unwrap()
        .date_naive();
    serde_json::json!({
        "delta": Path::new(&pipeline.tables.location).join("silver"),
        "iceberg": iceberg,
        "day": day.to_string(),
        "repeat": REPEAT,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let work = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    let pipeline = pipeline(work.path());
    println!(
        "upkeep_compaction: {RECORDS} records in {COMMITS} commits, silver by day over {DAYS} days, Delta and Iceberg"
    );

    let mut runner = PipelineRunner::start(pipeline.clone(), &engine).await.unwrap();
    let started = Instant::now();
    for poll in polls() {
        runner.ingest_all(&poll).unwrap();
        runner.flush().await.unwrap();
    }
    assert_eq!(runner.stats().silver_rows as usize, RECORDS);
    println!("written in {:.1} s", started.elapsed().as_secs_f64());
    drop(runner);

    let before = time_queries(&silver_spec(&pipeline).await, work.path());

    let mut tables = Tables::open(&pipeline).await.unwrap();
    let policy = Upkeep {
        actions: Actions {
            compact: true,
            expire: false,
            orphans: false,
        },
        ..Upkeep::default()
    };
    for sink in tables.silver[0].sinks.iter_mut() {
        memory::reset_peak();
        let started = Instant::now();
        let report = sink.maintain(&policy).await.unwrap();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{} compaction: data files {} -> {} (most in a partition {} -> {}), {:.1} s, {:.0} rows/s, {:.1} MiB rewritten, peak {:.1} MiB",
            sink.format().name(),
            report.files_before,
            report.files_after,
            report.most_per_partition.0,
            report.most_per_partition.1,
            seconds,
            RECORDS as f64 / seconds,
            report.bytes_rewritten as f64 / (1 << 20) as f64,
            memory::peak_rss_mib()
        );
        assert!(report.files_after < report.files_before);
    }
    drop(tables);

    let after = time_queries(&silver_spec(&pipeline).await, work.path());
    for (key, was) in before.as_object().unwrap() {
        let now = &after[key];
        assert_eq!(was["answer"], now["answer"], "{key}: compaction changed the answer");
        let (b, a) = (was["seconds"].as_f64().unwrap(), now["seconds"].as_f64().unwrap());
        println!(
            "{key:<18} before {b:>8.4} s ({:>10.0} rows/s)  after {a:>8.4} s ({:>10.0} rows/s)",
            RECORDS as f64 / b,
            RECORDS as f64 / a
        );
        println!("ratio duckdb_{}_after_vs_before {:.3}", key.replace('.', "_"), a / b);
    }
    println!("peak_mib {:.1}", memory::peak_rss_mib());
}
