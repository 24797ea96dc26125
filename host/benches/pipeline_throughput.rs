//! End-to-end throughput, in one run: 200-byte JSON posts pre-produced to a tansu broker,
//! consumed by the `posts` pipeline (two plugin stages: normalize and validate) and committed to
//! bronze, silver and quarantine tables in Delta and Iceberg; against a bare rdkafka consumer
//! that only counts the same messages; and the same pipeline fed from memory without a broker
//! (Weir's own ceiling), with both formats and with Delta only. Prints records/s, ratios and peak memory. Run: `scripts/bench.sh pipeline`.
#![allow(clippy::unwrap_used)] // a benchmark: panicking is how it fails

#[allow(dead_code)] // shared with the integration tests; this benchmark uses only tansu
#[path = "../../tests/common/services.rs"]
mod services;

#[path = "support/memory.rs"]
mod memory;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use weir::cli::demo;
use weir::config::{self, Pipeline, TableFormat};
use weir::pipeline::PipelineRunner;
use weir::plugin::PluginEngine;
use weir::source::{PartitionBatch, SourceRecord};

const RECORDS: usize = 200_000;

/// pipelines/posts with two stages (normalize, validate) and large commits.
fn pipeline(dir: &Path, brokers: &str, lakehouse: &Path, group: &str) -> Pipeline {
    let posts = dir.join("posts");
    std::fs::create_dir_all(&posts).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/posts");
    for entry in std::fs::read_dir(&repo).unwrap().flatten() {
        std::fs::copy(entry.path(), posts.join(entry.file_name())).unwrap();
    }
    let vars: HashMap<String, String> = [
        ("KAFKA_BROKERS", brokers.to_string()),
        ("WEIR_LAKEHOUSE", lakehouse.display().to_string()),
        ("POSTS_GROUP", group.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut pipeline = config::load(&posts.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    pipeline.stages.retain(|s| s.name != "dedup-key");
    pipeline.commit.max_records = 50_000;
    pipeline
}

/// The pipeline fed from memory, no broker (Weir's own ceiling), writing `formats`.
async fn fed_from_memory(engine: &PluginEngine, work: &Path, formats: &[TableFormat]) -> f64 {
    let name = if formats.len() > 1 { "mem-both" } else { "mem-delta" };
    let mut p = pipeline(
        &work.join(name),
        "127.0.0.1:1",
        &work.join(format!("lake-{name}")),
        name,
    );
    p.tables.format = formats.to_vec();
    let mut runner = PipelineRunner::start(p, engine).await.unwrap();
    let batches: Vec<PartitionBatch> = (0..RECORDS)
        .collect::<Vec<_>>()
        .chunks(1024)
        .enumerate()
        .map(|(n, chunk)| PartitionBatch {
            topic: "posts".into(),
            partition: 0,
            records: chunk
                .iter()
                .map(|&i| {
                    let (key, value, _) = demo::post(i);
                    SourceRecord {
                        partition: 0,
                        offset: (n * 1024 + (i % 1024)) as i64,
                        timestamp_ms: Some(1_700_000_000_000),
                        key: Some(key.into_bytes()),
                        value: Some(value.into_bytes()),
                        headers: Vec::new(),
                        malformed: None,
                    }
                })
                .collect(),
        })
        .collect();
    let started = Instant::now();
    for (n, batch) in batches.into_iter().enumerate() {
        runner.ingest(batch).unwrap();
        if (n + 1) % 49 == 0 {
            runner.flush().await.unwrap();
        }
    }
    runner.flush().await.unwrap();
    assert_eq!(runner.stats().bronze_rows as usize, RECORDS);
    RECORDS as f64 / started.elapsed().as_secs_f64()
}

fn bare_consumer(brokers: &str) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-bare")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["posts"]).unwrap();
    let mut count = 0;
    let mut started = None;
    while count < RECORDS {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message.unwrap();
            started.get_or_insert_with(Instant::now);
            count += 1;
        }
    }
    count as f64 / started.unwrap().elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let work = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    let tansu = services::Tansu::start();
    tansu.create_topic("posts", 4);
    let brokers = tansu.brokers();
    demo::produce_to(&brokers, "posts", 0..RECORDS).unwrap();
    let size: usize = (0..1000).map(|i| demo::post(i).1.len()).sum::<usize>() / 1000;
    println!("pipeline_throughput: {RECORDS} posts of ~{size} bytes on 4 partitions (tansu)");

    let bare = tokio::task::block_in_place(|| bare_consumer(&brokers));

    let broker_fed = {
        let p = pipeline(
            &work.path().join("e2e"),
            &brokers,
            &work.path().join("lake-e2e"),
            "bench-e2e",
        );
        let runner = PipelineRunner::start(p, &engine).await.unwrap();
        let mut first = None;
        let started = Instant::now();
        let stats = runner
            .run_until(|s| {
                if s.records_in > 0 {
                    first.get_or_insert_with(Instant::now);
                }
                s.records_in as usize >= RECORDS
            })
            .await
            .unwrap();
        assert_eq!(stats.bronze_rows as usize, RECORDS);
        let _ = started;
        RECORDS as f64 / first.unwrap().elapsed().as_secs_f64()
    };

    let memory_fed = fed_from_memory(&engine, work.path(), &[TableFormat::Delta, TableFormat::Iceberg]).await;
    let delta_only = fed_from_memory(&engine, work.path(), &[TableFormat::Delta]).await;

    println!("{:<44} {:>12} {:>10}", "path", "records/s", "ratio");
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "bare rdkafka consumer (counts only)", bare, 1.0
    );
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "weir: 2 stages, 3 tables x (Delta+Iceberg)",
        broker_fed,
        broker_fed / bare
    );
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "weir fed from memory (no broker): ceiling",
        memory_fed,
        memory_fed / bare
    );
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "  the same, Delta only",
        delta_only,
        delta_only / bare
    );
    println!("peak memory (VmHWM): {:.1} MiB", memory::peak_rss_mib());
}
