//! The commit protocol under crashes between table commits, in process and deterministic: the
//! example pipeline (its committed components, gold on, Delta and Iceberg on a local folder) is
//! fed from memory, and many of its commits fail just before a chosen table, as a crash there
//! would; a new runner then starts from the tables. Every table must end as an uninterrupted run
//! leaves it, and no table's offsets may ever go down.
#![allow(clippy::unwrap_used)] // a test: panicking is how it fails

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};

use super::runner::PipelineRunner;
use crate::config::{self, Pipeline, TableFormat};
use crate::plugin::PluginEngine;
use crate::sample as demo;
use crate::source::{PartitionBatch, SourceRecord};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 6_000;

fn pipeline(work: &Path, lake: &str) -> Pipeline {
    let posts = work.join(lake).join("posts");
    std::fs::create_dir_all(&posts).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/posts");
    for entry in std::fs::read_dir(&repo).unwrap().flatten() {
        std::fs::copy(entry.path(), posts.join(entry.file_name())).unwrap();
    }
    let vars: HashMap<String, String> = [
        ("KAFKA_BROKERS".to_string(), "127.0.0.1:1".to_string()),
        (
            "WEIR_LAKEHOUSE".to_string(),
            work.join(lake).join("lake").display().to_string(),
        ),
    ]
    .into();
    let mut pipeline = config::load(&posts.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    // Commits happen when the test flushes, never by policy.
    pipeline.commit.max_records = usize::MAX;
    pipeline.commit.max_interval_ms = u64::MAX;
    pipeline.commit.max_bytes = u64::MAX;
    pipeline
}

/// The topic's records, per partition, in offset order, partitioned by key as a producer does
/// (so a repeated id lands after its first on the same partition, and which one silver keeps
/// does not depend on how partitions interleave).
fn topic() -> BTreeMap<i32, Vec<SourceRecord>> {
    let mut partitions: BTreeMap<i32, Vec<SourceRecord>> = BTreeMap::new();
    for i in 0..RECORDS {
        let (key, value, _) = demo::post(i);
        let id: usize = key.trim_start_matches("t3_").parse().unwrap();
        let partition = (id % PARTITIONS as usize) as i32;
        let records = partitions.entry(partition).or_default();
        records.push(SourceRecord {
            partition,
            offset: records.len() as i64,
            timestamp_ms: Some(1_800_000_000_000 + i as i64),
            key: Some(key.into_bytes()),
            value: Some(value.into_bytes()),
            headers: Vec::new(),
            malformed: None,
        });
    }
    partitions
}

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Every table's next offset per partition, by (table name, format).
async fn table_offsets(runner: &mut PipelineRunner) -> BTreeMap<(String, String, i32), i64> {
    let mut out = BTreeMap::new();
    for (_, table) in runner.tables_mut().in_commit_order() {
        table.refresh().await.unwrap();
        for p in 0..PARTITIONS {
            let next = table.next_offset("posts", p).await.unwrap().unwrap_or(0);
            out.insert((table.name().to_string(), format!("{:?}", table.format()), p), next);
        }
    }
    out
}

/// Feeds `runner` from where it resumes, a batch per partition before each commit: `commits`
/// times, the last failing before table `crash`; or, without a crash, until every record is in.
async fn run_once(
    runner: &mut PipelineRunner,
    topic: &BTreeMap<i32, Vec<SourceRecord>>,
    rng: &mut Lcg,
    commits: usize,
    crash: Option<usize>,
) -> bool {
    let mut next = BTreeMap::new();
    for p in 0..PARTITIONS {
        next.insert(p, runner.assign(p).await.unwrap().unwrap_or(0) as usize);
    }
    let done = |next: &BTreeMap<i32, usize>| next.iter().all(|(p, n)| *n == topic[p].len());
    let mut commit = 0;
    while if crash.is_some() {
        commit < commits
    } else {
        !done(&next)
    } {
        commit += 1;
        for p in 0..PARTITIONS {
            let records = &topic[&p];
            let from = next[&p];
            let to = (from + 10 + rng.below(120)).min(records.len());
            if from < to {
                let batch = PartitionBatch {
                    topic: "posts".into(),
                    partition: p,
                    records: records[from..to].to_vec(),
                };
                runner.ingest(batch).unwrap();
                next.insert(p, to);
            }
        }
        if commit == commits {
            runner.path_mut().crash_before_table = crash;
        }
        if let Err(e) = runner.flush().await {
            println!("the commit failed: {e}");
            return false;
        }
    }
    true
}

fn by_origin(batches: &[RecordBatch]) -> Vec<(i32, i64)> {
    let mut out = Vec::new();
    for b in batches {
        let p = b
            .column_by_name("_kafka_partition")
            .unwrap()
            .as_primitive::<Int32Type>();
        let o = b.column_by_name("_kafka_offset").unwrap().as_primitive::<Int64Type>();
        out.extend(p.values().iter().copied().zip(o.values().iter().copied()));
    }
    out.sort_unstable();
    out
}

/// `got` equals `want`; else the sizes and the first few differences.
fn same<T: Ord + Clone + std::fmt::Debug>(got: &[T], want: &[T], what: &str) {
    if got == want {
        return;
    }
    let got_set: std::collections::BTreeSet<T> = got.iter().cloned().collect();
    let want_set: std::collections::BTreeSet<T> = want.iter().cloned().collect();
    let missing: Vec<&T> = want_set.difference(&got_set).take(5).collect();
    let extra: Vec<&T> = got_set.difference(&want_set).take(5).collect();
    panic!(
        "{what}: {} rows ({} distinct), want {} ({} distinct); missing {missing:?}, extra {extra:?}",
        got.len(),
        got_set.len(),
        want.len(),
        want_set.len()
    );
}

/// Gold rows as (subreddit, window start, avg score, post count), sorted.
fn gold_rows(batches: &[RecordBatch]) -> Vec<(String, i64, String, i64)> {
    let mut out = Vec::new();
    for b in batches {
        let keys = b.column_by_name("subreddit").unwrap().as_string::<i32>();
        let starts = b
            .column_by_name("window_start")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let avg = b.column_by_name("avg_score").unwrap().as_primitive::<Float64Type>();
        let count = b.column_by_name("post_count").unwrap().as_primitive::<Int64Type>();
        for row in 0..b.num_rows() {
            let key = keys.value(row).to_string();
            out.push((
                key,
                starts.value(row),
                format!("{:.6}", avg.value(row)),
                count.value(row),
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_between_table_commits_over_many_commits_double_and_lose_nothing() {
    let work = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(work.path().join("components")).unwrap();
    let topic = topic();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash schedule seed: {seed}");
    let mut rng = Lcg(seed);

    // The reference: one uninterrupted run.
    let reference_pipeline = pipeline(work.path(), "reference");
    let mut reference = PipelineRunner::start(reference_pipeline, &engine).await.unwrap();
    assert!(run_once(&mut reference, &topic, &mut rng, 0, None).await);

    // The crashed runs: each makes a few commits and fails in the last, before a random table
    // (one of bronze, quarantine, silver and gold in either format, so the tables drift apart).
    let crashed_pipeline = pipeline(work.path(), "crashed");
    let mut seen: BTreeMap<(String, String, i32), i64> = BTreeMap::new();
    let mut crashes = 0;
    for _ in 0..14 {
        let mut runner = PipelineRunner::start(crashed_pipeline.clone(), &engine).await.unwrap();
        let tables = runner.tables_mut().in_commit_order().count();
        let crash = 1 + rng.below(tables - 1);
        let commits = 1 + rng.below(2);
        crashes += usize::from(!run_once(&mut runner, &topic, &mut rng, commits, Some(crash)).await);
        for (table, next) in table_offsets(&mut runner).await {
            let before = seen.insert(table.clone(), next).unwrap_or(0);
            assert!(next >= before, "{table:?}: offsets went back from {before} to {next}");
        }
    }
    assert_eq!(crashes, 14, "every run crashed in its last commit");
    let mut runner = PipelineRunner::start(crashed_pipeline, &engine).await.unwrap();
    assert!(run_once(&mut runner, &topic, &mut rng, 0, None).await);
    for (table, next) in table_offsets(&mut runner).await {
        assert_eq!(
            next,
            topic[&table.2].len() as i64,
            "{table:?}: at the end of its partition"
        );
    }

    let expected = demo::dataset(RECORDS);
    for format in [TableFormat::Delta, TableFormat::Iceberg] {
        let ours = runner.tables_mut();
        let bronze = by_origin(&ours.bronze.read(format).await.unwrap());
        assert_eq!(bronze.len(), RECORDS, "{format:?} bronze: every record");
        bronze
            .windows(2)
            .for_each(|w| assert_ne!(w[0], w[1], "{format:?} bronze: {:?} twice", w[0]));
        let quarantine = by_origin(&ours.quarantine.read(format).await.unwrap());
        let theirs = reference.tables_mut();
        let reference_quarantine = by_origin(&theirs.quarantine.read(format).await.unwrap());
        assert!(
            quarantine.len() >= expected.invalid,
            "{format:?} quarantine: the invalid posts"
        );
        same(&quarantine, &reference_quarantine, &format!("{format:?} quarantine"));
        let silver = by_origin(&ours.silver[0].read(format).await.unwrap());
        assert_eq!(silver.len(), expected.silver_rows(), "{format:?} silver: each key once");
        same(
            &silver,
            &by_origin(&theirs.silver[0].read(format).await.unwrap()),
            &format!("{format:?} silver"),
        );
        let gold = gold_rows(&ours.gold[0].read(format).await.unwrap());
        let reference_gold = gold_rows(&theirs.gold[0].read(format).await.unwrap());
        assert!(!reference_gold.is_empty(), "the reference finished some windows");
        same(
            &gold,
            &reference_gold,
            &format!("{format:?} gold, against the uninterrupted run's"),
        );
    }
}
