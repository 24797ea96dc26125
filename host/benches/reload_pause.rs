//! How long the data path pauses when a reloaded plugin is swapped in. The `posts` pipeline
//! (normalize, validate, and a `tag` stage) is fed 1,024-record batches from memory, committing
//! to Delta every 49 batches, while another thread starts the two versions of the `tag` plugin
//! alternately (instantiate + `init`, as a reload does) and hands each to the pipeline. Prints
//! the pause per swap (p50, p99, max), the time to process one batch as the baseline, their
//! ratio, the off-path start time, and peak memory. Run: `scripts/bench.sh reload`.
#![allow(clippy::unwrap_used)] // a benchmark: panicking is how it fails

#[path = "support/memory.rs"]
mod memory;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use weir::cli::demo;
use weir::config::{self, Pipeline, TableFormat};
use weir::pipeline::{PipelineRunner, RunningStage, StageSwap, swap_channel};
use weir::plugin::{Plugin, PluginEngine};
use weir::source::{PartitionBatch, SourceRecord};

const BATCHES: usize = 600;
const BATCH: usize = 1024;

fn plugin_dir() -> PathBuf {
    std::env::var_os("WEIR_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            home.join(".cache/weir/plugins-target/wasm32-wasip2/release")
        })
}

/// pipelines/posts (normalize, validate) plus a `tag` stage running tag-v1, Delta only.
fn pipeline(work: &Path) -> Pipeline {
    let posts = work.join("pipelines/posts");
    std::fs::create_dir_all(&posts).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/posts");
    for entry in std::fs::read_dir(&repo).unwrap().flatten() {
        std::fs::copy(entry.path(), posts.join(entry.file_name())).unwrap();
    }
    std::fs::copy(plugin_dir().join("weir_tag_v1.wasm"), posts.join("tag.wasm")).unwrap();
    let file = posts.join("pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let tag = "[[stages]]\nname = \"tag\"\nplugin = \"tag.wasm\"\nkind = \"transform\"\n\n[tables]";
    std::fs::write(&file, text.replacen("[tables]", tag, 1)).unwrap();
    let vars: HashMap<String, String> = [
        ("KAFKA_BROKERS", "127.0.0.1:1".to_string()),
        ("WEIR_LAKEHOUSE", work.join("lake").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut pipeline = config::load(&file, &config::from_map(&vars)).unwrap();
    pipeline.stages.retain(|s| s.name != "dedup-key");
    pipeline.tables.format = vec![TableFormat::Delta];
    pipeline
}

fn batch(n: usize) -> PartitionBatch {
    PartitionBatch {
        topic: "posts".into(),
        partition: 0,
        records: (0..BATCH)
            .map(|j| {
                let i = n * BATCH + j;
                let (key, value, _) = demo::post(i);
                SourceRecord {
                    partition: 0,
                    offset: i as i64,
                    timestamp_ms: Some(1_700_000_000_000),
                    key: Some(key.into_bytes()),
                    value: Some(value.into_bytes()),
                    headers: Vec::new(),
                    malformed: None,
                }
            })
            .collect(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let work = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    let pipeline = pipeline(work.path());
    let tag_index = pipeline.stages.iter().position(|s| s.name == "tag").unwrap();
    let tag = pipeline.stages[tag_index].clone();
    let versions = [
        Plugin::load_file(&engine, &plugin_dir().join("weir_tag_v1.wasm")).unwrap(),
        Plugin::load_file(&engine, &plugin_dir().join("weir_tag_v2.wasm")).unwrap(),
    ];
    let mut runner = PipelineRunner::start(pipeline, &engine).await.unwrap();
    let (swaps, receiver) = swap_channel();
    runner.accept_swaps(receiver);
    let batches: Vec<PartitionBatch> = (0..BATCHES).map(batch).collect();

    // The reloader: starts the other version off the data path, every 20 ms.
    let done = Arc::new(AtomicBool::new(false));
    let reloader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut starts = Vec::new();
            let mut n = 1;
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                let stage = RunningStage::start_plugin("posts", &tag, versions[n % 2].clone()).unwrap();
                starts.push(started.elapsed());
                if !swaps.send(StageSwap {
                    stages: vec![(tag_index, stage)],
                    gold: Vec::new(),
                }) {
                    break;
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            starts
        })
    };

    let started = Instant::now();
    let mut plain = Vec::new();
    for (n, batch) in batches.into_iter().enumerate() {
        let swaps_before = runner.swapped().len();
        let t = Instant::now();
        runner.apply_swaps();
        runner.ingest(batch).unwrap();
        if runner.swapped().len() == swaps_before {
            plain.push(t.elapsed());
        }
        if (n + 1) % 49 == 0 {
            runner.flush().await.unwrap();
        }
    }
    runner.flush().await.unwrap();
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let mut starts = reloader.join().unwrap();
    assert_eq!(runner.stats().bronze_rows as usize, BATCHES * BATCH);

    let mut pauses: Vec<Duration> = runner.swapped().iter().map(|s| s.pause).collect();
    assert!(pauses.len() >= 20, "only {} swaps happened", pauses.len());
    pauses.sort();
    plain.sort();
    starts.sort();
    let batch_p50 = percentile(&plain, 0.5);
    let (p50, p99, max) = (
        percentile(&pauses, 0.5),
        percentile(&pauses, 0.99),
        pauses[pauses.len() - 1],
    );
    println!(
        "reload_pause: {} swaps during {} batches of {BATCH} records ({:.1} s)",
        pauses.len(),
        BATCHES,
        elapsed.as_secs_f64()
    );
    println!(
        "  data-path pause per swap: p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        us(p50),
        us(p99),
        us(max)
    );
    println!(
        "  baseline, one batch through the stages (no swap): p50 {:.0} us",
        us(batch_p50)
    );
    println!(
        "  pause p99 / batch p50: {:.4} ({:.2}% of one batch)",
        us(p99) / us(batch_p50),
        100.0 * us(p99) / us(batch_p50)
    );
    println!(
        "  off the data path, starting a version (instantiate + init): p50 {:.0} us, p99 {:.0} us",
        us(percentile(&starts, 0.5)),
        us(percentile(&starts, 0.99))
    );
    println!("  peak memory: {:.0} MiB", memory::peak_rss_mib());
}
