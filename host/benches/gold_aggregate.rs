//! Gold aggregation throughput with 10,000 and with 1,000,000 distinct keys. The avg-score
//! plugin folds records (`{"user": ..., "amount": ...}`, batches of 1,024 from one partition,
//! all in one daily window) into per-key state through `GoldAggregator::ingest`, then
//! `finish_windows` merges, finishes and decodes one row per key, and the state is written as a
//! checkpoint. Baseline, in the same run: the same records aggregated natively (serde_json + a
//! HashMap of count and sum), the work without the sandbox or the host's bookkeeping. Prints
//! records/s, the ratio, the finish and checkpoint times, and peak memory after each key count.
//! Run: `scripts/bench.sh gold`.
#![allow(clippy::unwrap_used)] // a benchmark: panicking is how it fails

#[path = "support/memory.rs"]
mod memory;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use weir::config::{ColumnConfig, ColumnType, Gold, S3Config, WindowSpec};
use weir::gold::{Checkpoint, CheckpointStore, GoldAggregator, GoldInput};
use weir::plugin::{Limits, PluginEngine, Record};
use weir::source::TopicPartition;

const BATCH: usize = 1024;
const DAY_US: i64 = 86_400_000_000;
/// 2023-11-15T00:00:00Z: every record falls in one daily window.
const DAY_START_US: i64 = 1_700_006_400_000_000;

fn plugin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/posts/avg_score.wasm")
}

fn gold() -> Gold {
    let column = |name: &str, ty| ColumnConfig::new(name, ty, true);
    Gold {
        name: "bench".into(),
        plugin: plugin(),
        config: r#"{"group_by":"user","field":"amount"}"#.into(),
        limits: Limits::default(),
        silver: 0,
        event_time: "ts".into(),
        window: WindowSpec {
            size_us: DAY_US,
            slide_us: DAY_US,
            lateness_us: 0,
        },
        max_ahead_us: weir::config::DEFAULT_MAX_AHEAD_US,
        key_column: "user".into(),
        columns: vec![
            column("avg_score", ColumnType::Float64),
            column("post_count", ColumnType::Int64),
        ],
    }
}

/// `n` records over `keys` distinct users (a multiplicative hash spreads them).
fn records(n: usize, keys: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let user = (i as u64).wrapping_mul(2_654_435_761) % keys as u64;
            Record {
                key: None,
                value: format!(r#"{{"user":"u{user:07}","amount":{}}}"#, i % 1000),
                timestamp_ms: None,
            }
        })
        .collect()
}

/// The same aggregation without Weir: parse, group, count and sum.
fn native(records: &[Record]) -> usize {
    let mut groups: HashMap<String, (u64, f64)> = HashMap::new();
    for record in records {
        let value: serde_json::Value = serde_json::from_str(&record.value).unwrap();
        let user = value["user"].as_str().unwrap().to_string();
        let entry = groups.entry(user).or_default();
        entry.0 += 1;
        entry.1 += value["amount"].as_f64().unwrap();
    }
    groups.len()
}

fn run(engine: &PluginEngine, keys: usize, n: usize, work: &Path) {
    let records = records(n, keys);
    let started = Instant::now();
    let distinct = native(&records);
    let native_rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(distinct, keys);

    let mut aggregator = GoldAggregator::start("bench", &gold(), engine).unwrap();
    let started = Instant::now();
    for (b, chunk) in records.chunks(BATCH).enumerate() {
        let inputs: Vec<GoldInput<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(j, record)| GoldInput {
                record,
                event_us: Some(DAY_START_US + ((b * BATCH + j) as i64 * 1_000) % (DAY_US / 2)),
                arrived_us: i64::MAX / 2,
            })
            .collect();
        let refused = aggregator.ingest(&TopicPartition::new("posts", 0), &inputs);
        assert!(refused.is_empty(), "{:?}", refused.first());
    }
    let ingest = started.elapsed();
    let groups = aggregator.state().groups();
    assert_eq!(groups, keys);

    // The checkpoint of the open state, as a commit writes it.
    let store =
        CheckpointStore::open("bench", &work.display().to_string(), "gold_bench", &S3Config::default()).unwrap();
    let checkpoint = Checkpoint {
        seq: 1,
        state: aggregator.state().clone(),
        offsets: vec![("bench".into(), 0, n as i64)],
        rows: Vec::new(),
        plugin: aggregator.sha256().to_string(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let started = Instant::now();
    runtime
        .block_on(store.write(&checkpoint, &aggregator.schema().arrow))
        .unwrap();
    let write = started.elapsed();
    let started = Instant::now();
    let read = runtime.block_on(store.read(1)).unwrap();
    let read_time = started.elapsed();
    assert_eq!(read.state.groups(), keys);
    drop((checkpoint, read));

    // Move the watermark past the day: one more record a day later closes the window.
    let closer = Record {
        key: None,
        value: r#"{"user":"closer","amount":1}"#.into(),
        timestamp_ms: None,
    };
    aggregator.ingest(
        &TopicPartition::new("posts", 0),
        &[GoldInput {
            record: &closer,
            event_us: Some(DAY_START_US + DAY_US),
            arrived_us: i64::MAX / 2,
        }],
    );
    let started = Instant::now();
    let rows = aggregator.finish_windows(0, &BTreeSet::new()).unwrap();
    let finish = started.elapsed();
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), keys);
    let total = ingest + finish;
    let weir_rate = n as f64 / total.as_secs_f64();

    println!("{keys} distinct keys, {n} records:");
    println!("  native serde_json + HashMap (baseline)   {native_rate:>10.0} records/s   1.00x");
    println!(
        "  weir gold (ingest + finish)              {weir_rate:>10.0} records/s   {:.2}x",
        weir_rate / native_rate
    );
    println!(
        "  ingest {:.2} s, finish {keys} windows {:.2} s, checkpoint write {:.2} s / read {:.2} s",
        ingest.as_secs_f64(),
        finish.as_secs_f64(),
        write.as_secs_f64(),
        read_time.as_secs_f64()
    );
    println!("  peak memory so far (VmHWM): {:.1} MiB", memory::peak_rss_mib());
}

fn main() {
    let work = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    run(&engine, 10_000, 1_000_000, work.path());
    run(&engine, 1_000_000, 2_000_000, work.path());
}
