//! End-to-end throughput, in one run: 200-byte JSON posts pre-produced to a tansu broker,
//! consumed by the `posts` pipeline (two plugin stages: normalize and validate) and committed to
//! bronze, silver and quarantine tables in Delta and Iceberg; against a bare rdkafka consumer
//! that only counts the same messages; and the same pipeline fed from memory without a broker
//! (Weir's own ceiling), with both formats and with Delta only, with 1, 2 and all workers; and
//! a native program doing the same work (`support/native.rs`). Prints records/s, ratios and peak memory. Run: `scripts/bench.sh pipeline`.
#![allow(clippy::unwrap_used)] // a benchmark: panicking is how it fails

#[allow(dead_code)] // shared with the integration tests; this benchmark uses only tansu
#[path = "../../tests/common/services.rs"]
mod services;

#[path = "support/memory.rs"]
mod memory;

#[path = "support/native.rs"]
mod native;

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

/// Memory-fed runs spread the records over this many partitions, one batch of each per call,
/// so the workers have batches to share.
const PARTITIONS: usize = 4;

/// The pipeline fed from memory, no broker (Weir's own ceiling), writing `formats` with
/// `workers` parallel workers.
async fn fed_from_memory(
    engine: &PluginEngine,
    work: &Path,
    label: &str,
    formats: &[TableFormat],
    workers: usize,
) -> f64 {
    let name = format!("mem-{label}");
    let mut p = pipeline(
        &work.join(&name),
        "127.0.0.1:1",
        &work.join(format!("lake-{name}")),
        &name,
    );
    p.tables.format = formats.to_vec();
    p.workers = workers;
    let mut runner = PipelineRunner::start(p, engine).await.unwrap();
    let mut next = [0i64; PARTITIONS];
    // Stamped as a broker stamps them (the time of producing), as in the broker-fed run: a
    // fixed old stamp would make gold quarantine most posts as ahead of their record's time.
    let produced_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let batches: Vec<PartitionBatch> = (0..RECORDS)
        .collect::<Vec<_>>()
        .chunks(1024)
        .enumerate()
        .map(|(n, chunk)| {
            let partition = n % PARTITIONS;
            let records = chunk
                .iter()
                .map(|&i| {
                    let (key, value, _) = demo::post(i);
                    let offset = next[partition];
                    next[partition] += 1;
                    SourceRecord {
                        partition: partition as i32,
                        offset,
                        timestamp_ms: Some(produced_ms),
                        key: Some(key.into_bytes()),
                        value: Some(value.into_bytes()),
                        headers: Vec::new(),
                        malformed: None,
                    }
                })
                .collect();
            PartitionBatch {
                topic: "posts".into(),
                partition: partition as i32,
                records,
            }
        })
        .collect();
    let started = Instant::now();
    let mut batches = batches.into_iter().peekable();
    let mut polls = 0;
    let (mut ingesting, mut flushing) = (Duration::ZERO, Duration::ZERO);
    while batches.peek().is_some() {
        // One "poll": a batch of each partition.
        let poll: Vec<PartitionBatch> = batches.by_ref().take(PARTITIONS).collect();
        let t = Instant::now();
        runner.ingest_all(&poll).unwrap();
        ingesting += t.elapsed();
        polls += 1;
        if polls % 12 == 0 {
            let t = Instant::now();
            runner.flush().await.unwrap();
            flushing += t.elapsed();
        }
    }
    let t = Instant::now();
    runner.flush().await.unwrap();
    flushing += t.elapsed();
    if only_memory().is_some() {
        println!("  ingesting {ingesting:?}, committing {flushing:?}");
    }
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

/// For profiling: `PIPELINE_BENCH_ONLY=memory:<workers>` runs only one memory-fed run.
fn only_memory() -> Option<usize> {
    let only = std::env::var("PIPELINE_BENCH_ONLY").ok()?;
    only.strip_prefix("memory:")?.parse().ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut work = tempfile::tempdir().unwrap();
    if std::env::var_os("PIPELINE_BENCH_KEEP").is_some() {
        work.disable_cleanup(true);
        println!("work directory kept: {}", work.path().display());
    }
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    if let Some(workers) = only_memory() {
        memory::reset_peak();
        let both = [TableFormat::Delta, TableFormat::Iceberg];
        let rate = fed_from_memory(&engine, work.path(), "only", &both, workers).await;
        println!("fed from memory, {workers} workers: {rate:.0} records/s");
        println!("peak memory (VmHWM): {:.1} MiB", memory::peak_rss_mib());
        return;
    }
    let tansu = services::Tansu::start();
    tansu.create_topic("posts", 4);
    let brokers = tansu.brokers();
    demo::produce_to(&brokers, "posts", 0..RECORDS).unwrap();
    let size: usize = (0..1000).map(|i| demo::post(i).1.len()).sum::<usize>() / 1000;
    println!("pipeline_throughput: {RECORDS} posts of ~{size} bytes on 4 partitions (tansu)");

    memory::reset_peak();
    let bare = tokio::task::block_in_place(|| bare_consumer(&brokers));
    let bare_peak = memory::peak_rss_mib();

    memory::reset_peak();
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
    let broker_fed_peak = memory::peak_rss_mib();

    memory::reset_peak();

    let native_posts: Vec<(String, String)> = (0..RECORDS)
        .map(|i| {
            let (key, value, _) = demo::post(i);
            (key, value)
        })
        .collect();
    let native_dir = work.path().join("native");
    std::fs::create_dir_all(&native_dir).unwrap();
    let native_pipeline = pipeline(&work.path().join("native-cfg"), "127.0.0.1:1", &native_dir, "native");
    let (native_rate, native_silver) = native::rate(&native_pipeline, &native_posts, &native_dir);
    drop(native_posts);
    let native_peak = memory::peak_rss_mib();
    assert!(
        native_silver > RECORDS / 2,
        "the baseline kept {native_silver} silver rows"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let both = [TableFormat::Delta, TableFormat::Iceberg];
    memory::reset_peak();
    let one_worker = fed_from_memory(&engine, work.path(), "one", &both, 1).await;
    let two_workers = fed_from_memory(&engine, work.path(), "two", &both, 2).await;
    let memory_fed = fed_from_memory(&engine, work.path(), "all", &both, cores).await;
    let delta_only = fed_from_memory(&engine, work.path(), "delta", &[TableFormat::Delta], cores).await;
    let memory_fed_peak = memory::peak_rss_mib();

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
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "  the same, 1 worker",
        one_worker,
        one_worker / bare
    );
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "  the same, 2 workers",
        two_workers,
        two_workers / bare
    );
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "native program, same work, 1 thread",
        native_rate,
        native_rate / bare
    );
    println!("(fed from memory: {PARTITIONS} partitions, {cores} workers unless said)");
    println!("ratio memory_fed_vs_native {:.3}", memory_fed / native_rate);
    println!("ratio end_to_end_vs_bare {:.3}", broker_fed / bare);
    println!("ratio workers_2_vs_1 {:.3}", two_workers / one_worker);
    println!(
        "peak memory (VmHWM, each from its run's start): bare consumer {bare_peak:.1} MiB, \
         weir from tansu {broker_fed_peak:.1} MiB, native {native_peak:.1} MiB, \
         weir fed from memory (records prepared up front) {memory_fed_peak:.1} MiB"
    );
    println!("peak_mib weir {:.1}", broker_fed_peak.max(memory_fed_peak));
}
