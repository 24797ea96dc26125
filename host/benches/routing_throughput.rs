//! Routing's cost, in one run: the same mixed records (orders, payments and page views, JSON,
//! ~120 bytes) fed from memory (no broker, no plugin) into one silver table holding the union
//! of their columns, and into three silver tables routed by `event_type`, each in Delta and
//! Iceberg, alternating rounds. Each commit publishes offsets to every silver table, so three
//! tables cost three times the silver publishes. Prints records/s, the ratio
//! (`ratio three_silver_vs_one`) and peak memory. Run: `scripts/bench.sh routing`.
#![allow(clippy::unwrap_used)] // a benchmark: panicking is how it fails

#[path = "support/memory.rs"]
mod memory;

use std::path::Path;
use std::time::Instant;

use weir::config::{self, Pipeline};
use weir::pipeline::PipelineRunner;
use weir::plugin::PluginEngine;
use weir::source::{PartitionBatch, SourceRecord};

const RECORDS: usize = 300_000;
const PARTITIONS: usize = 4;
const ROUNDS: usize = 3;

const HEAD: &str = r#"
[source]
brokers = "127.0.0.1:1"
topic = "events"
group = "bench"

[tables]
location = "LAKE"
format = ["delta", "iceberg"]

[commit]
max_records = 50000
"#;

const ONE: &str = r#"
[tables.silver]
key = ["id"]
columns = [
  { name = "id", type = "string", nullable = false },
  { name = "event_type", type = "string" },
  { name = "customer", type = "string" },
  { name = "amount", type = "int64" },
  { name = "order_id", type = "string" },
  { name = "page", type = "string" },
  { name = "created_at", type = "timestamp", unit = "s" },
]
"#;

const THREE: &str = r#"
[[tables.silver]]
name = "orders"
route = { field = "event_type", equals = "order" }
key = ["id"]
columns = [
  { name = "id", type = "string", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "int64" },
  { name = "created_at", type = "timestamp", unit = "s" },
]

[[tables.silver]]
name = "payments"
route = { field = "event_type", equals = "payment" }
key = ["id"]
columns = [
  { name = "id", type = "string", nullable = false },
  { name = "order_id", type = "string" },
  { name = "amount", type = "int64" },
]

[[tables.silver]]
name = "views"
route = { field = "event_type", equals = "view" }
key = ["id"]
columns = [
  { name = "id", type = "string", nullable = false },
  { name = "page", type = "string" },
  { name = "created_at", type = "timestamp", unit = "s" },
]
"#;

fn pipeline(dir: &Path, tables: &str) -> Pipeline {
    let folder = dir.join("events");
    std::fs::create_dir_all(&folder).unwrap();
    let lake = dir.join("lake").display().to_string();
    std::fs::write(folder.join("pipeline.toml"), HEAD.replace("LAKE", &lake) + tables).unwrap();
    config::load(&folder.join("pipeline.toml"), &config::from_map(&Default::default())).unwrap()
}

/// Record `i`: an order, a payment or a view, in turn.
fn event(i: usize) -> String {
    let created = 1_793_491_200 + i as i64;
    match i % 3 {
        0 => format!(
            r#"{{"event_type":"order","id":"o{i}","customer":"c{}","amount":{},"created_at":{created}}}"#,
            i % 97,
            i % 500
        ),
        1 => format!(
            r#"{{"event_type":"payment","id":"p{i}","order_id":"o{}","amount":{}}}"#,
            i - 1,
            i % 500
        ),
        _ => format!(
            r#"{{"event_type":"view","id":"v{i}","page":"/p/{}","created_at":{created}}}"#,
            i % 1000
        ),
    }
}

fn batches() -> Vec<PartitionBatch> {
    let mut next = [0i64; PARTITIONS];
    (0..RECORDS)
        .collect::<Vec<_>>()
        .chunks(1024)
        .enumerate()
        .map(|(n, chunk)| {
            let partition = n % PARTITIONS;
            let records = (chunk.iter())
                .map(|&i| {
                    next[partition] += 1;
                    SourceRecord {
                        partition: partition as i32,
                        offset: next[partition] - 1,
                        timestamp_ms: Some(1_793_491_200_000),
                        key: None,
                        value: Some(event(i).into_bytes()),
                        headers: Vec::new(),
                        malformed: None,
                    }
                })
                .collect();
            PartitionBatch {
                topic: "events".into(),
                partition: partition as i32,
                records,
            }
        })
        .collect()
}

/// One run into fresh tables: records/s and the silver rows written.
async fn run(engine: &PluginEngine, dir: &Path, tables: &str, input: &[PartitionBatch]) -> (f64, u64) {
    let mut runner = PipelineRunner::start(pipeline(dir, tables), engine).await.unwrap();
    let started = Instant::now();
    for poll in input.chunks(PARTITIONS) {
        runner.ingest_all(poll).unwrap();
        if runner.uncommitted() >= 50_000 {
            runner.flush().await.unwrap();
        }
    }
    runner.flush().await.unwrap();
    let rate = RECORDS as f64 / started.elapsed().as_secs_f64();
    let stats = runner.stats();
    assert_eq!(stats.bronze_rows as usize, RECORDS);
    assert_eq!(stats.quarantine_rows, 0, "every record routed and decoded");
    (rate, stats.silver_rows)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let work = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    let input = batches();
    println!("routing_throughput: {RECORDS} records on {PARTITIONS} partitions, Delta and Iceberg, from memory");
    let (mut one, mut three) = (0f64, 0f64);
    let (mut one_peak, mut three_peak) = (0f64, 0f64);
    for round in 0..ROUNDS {
        memory::reset_peak();
        let (rate, rows) = run(&engine, &work.path().join(format!("one-{round}")), ONE, &input).await;
        one_peak = one_peak.max(memory::peak_rss_mib());
        assert_eq!(rows as usize, RECORDS);
        println!("round {round}: one silver table     {rate:>10.0} records/s");
        one = one.max(rate);
        memory::reset_peak();
        let (rate, rows) = run(&engine, &work.path().join(format!("three-{round}")), THREE, &input).await;
        three_peak = three_peak.max(memory::peak_rss_mib());
        assert_eq!(rows as usize, RECORDS, "each record in its own table");
        println!("round {round}: three routed tables  {rate:>10.0} records/s");
        three = three.max(rate);
    }
    println!("best: one silver table {one:.0} records/s, three routed tables {three:.0} records/s");
    println!("ratio three_silver_vs_one {:.3}", three / one);
    println!("peak_mib one {one_peak:.1}");
    println!("peak_mib three {three_peak:.1}");
}
