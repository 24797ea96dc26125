//! Helpers of the pipeline integration tests: a copy of the example pipeline to tweak, running
//! and stopping `weir run`, and reading what landed in the tables.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use weir::config::Pipeline;
use weir::pipeline::Tables;

/// Copies pipelines/posts into `dir/posts`, applying each (from, to) text edit to its
/// pipeline.toml; returns `dir` (the pipelines folder to run).
pub fn copy_posts_pipeline(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let posts = dir.join("posts");
    std::fs::create_dir_all(&posts).unwrap();
    for entry in std::fs::read_dir(super::repo_root().join("pipelines/posts"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(entry.path(), posts.join(entry.file_name())).unwrap();
    }
    let mut text = std::fs::read_to_string(posts.join("pipeline.toml")).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(posts.join("pipeline.toml"), text).unwrap();
    dir.to_path_buf()
}

/// Removes the `[[gold]]` sections (the file's tail, from the `# Gold:` comment) of the copied
/// posts pipeline: a pipeline with gold tables runs on one host, and group tests run several.
pub fn strip_gold(pipelines: &Path) {
    let file = pipelines.join("posts/pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let at = text.find("\n# Gold:").expect("pipelines/posts has a gold section");
    std::fs::write(&file, &text[..at + 1]).unwrap();
}

/// Stops `host` with SIGTERM (graceful: final commit) and waits for it.
pub fn sigterm(host: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &host.id().to_string()]).status();
    let started = Instant::now();
    while host.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            host.kill().unwrap();
            panic!("weir did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The (partition, offset) of every row.
pub fn origins(batches: &[RecordBatch]) -> Vec<(i32, i64)> {
    let mut out = Vec::new();
    for batch in batches {
        let p = batch
            .column_by_name("_kafka_partition")
            .unwrap()
            .as_primitive::<Int32Type>();
        let o = batch
            .column_by_name("_kafka_offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        out.extend(p.values().iter().copied().zip(o.values().iter().copied()));
    }
    out
}

pub fn unique<T: std::hash::Hash + Eq + Clone>(items: &[T]) -> usize {
    items.iter().cloned().collect::<HashSet<_>>().len()
}

/// The `id` of every silver row.
pub fn silver_ids(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("id")
                .unwrap()
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Waits until bronze and silver hold at least `bronze` and `silver` rows.
pub async fn wait_for_rows(pipeline: &Pipeline, bronze: usize, silver: usize) {
    let started = Instant::now();
    loop {
        if let Ok(tables) = Tables::open(pipeline).await {
            let b = rows(&tables.bronze.read_all().await.unwrap());
            let s = rows(&tables.silver[0].read_all().await.unwrap());
            if b >= bronze && s >= silver {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "bronze {b}/{bronze}, silver {s}/{silver} after 120 s"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How many commits the Delta log of table `name` under `location` holds (its JSON versions).
pub fn delta_versions(location: &Path, name: &str) -> usize {
    let Ok(dir) = std::fs::read_dir(location.join(name).join("_delta_log")) else {
        return 0;
    };
    dir.flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() == 25 && name.ends_with(".json")
        })
        .count()
}

/// Waits (polling every 2 ms, at most `limit`) until the Delta log of `name` holds more than
/// `before` versions; false if it did not.
pub fn wait_for_delta_commit(location: &Path, name: &str, before: usize, limit: Duration) -> bool {
    let started = Instant::now();
    while delta_versions(location, name) <= before {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// True when every table of `tables` (each layer, each format) holds all `total` records of
/// `topic` (its `partitions` next offsets add up to it; offsets are contiguous in a topic
/// without transactions). Counted, not read from the broker's high watermarks: tansu's can
/// trail what it stores (seen: 284 for 306 messages).
pub async fn tables_reached(tables: &mut Tables, topic: &str, partitions: i32, total: i64) -> bool {
    for (_, table) in tables.in_commit_order() {
        let mut held = 0;
        for partition in 0..partitions {
            held += table.next_offset(topic, partition).await.unwrap().unwrap_or(0);
        }
        if held < total {
            return false;
        }
    }
    true
}

/// Every offset a table's log ever recorded, in commit order: per (topic, partition) key, the
/// list of next offsets. Delta: the `txn` actions of each JSON version; Iceberg: the
/// `weir.offset.*` properties of each snapshot, by sequence number, from the newest metadata.
pub fn logged_offsets(table_dir: &Path) -> std::collections::BTreeMap<String, Vec<i64>> {
    let mut out: std::collections::BTreeMap<String, Vec<i64>> = std::collections::BTreeMap::new();
    let delta_log = table_dir.join("_delta_log");
    if delta_log.is_dir() {
        let mut versions: Vec<PathBuf> = std::fs::read_dir(&delta_log)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.len() == 25) && p.extension().is_some_and(|e| e == "json"))
            .collect();
        versions.sort();
        for version in versions {
            for line in std::fs::read_to_string(&version).unwrap().lines() {
                let action: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(txn) = action.get("txn") {
                    let id = txn["appId"].as_str().unwrap().to_string();
                    out.entry(id).or_default().push(txn["version"].as_i64().unwrap());
                }
            }
        }
        return out;
    }
    let metadata = table_dir.join("metadata");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&metadata)
        .unwrap_or_else(|e| panic!("{}: {e}", metadata.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".metadata.json"))
        .collect();
    files.sort();
    let newest = files.last().expect("iceberg metadata");
    let metadata: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(newest).unwrap()).unwrap();
    let mut snapshots: Vec<&serde_json::Value> = metadata["snapshots"].as_array().into_iter().flatten().collect();
    snapshots.sort_by_key(|s| s["sequence-number"].as_i64());
    for snapshot in snapshots {
        for (key, value) in snapshot["summary"].as_object().into_iter().flatten() {
            if let Some(id) = key.strip_prefix("weir.offset.") {
                let next = value.as_str().and_then(|v| v.parse().ok()).unwrap();
                out.entry(id.to_string()).or_default().push(next);
            }
        }
    }
    out
}

/// Asserts that no offset in the log of the table at `table_dir` ever went down.
pub fn assert_offsets_monotonic(table_dir: &Path) -> usize {
    let logged = logged_offsets(table_dir);
    assert!(!logged.is_empty(), "{}: no offsets logged", table_dir.display());
    let mut entries = 0;
    for (id, offsets) in &logged {
        for pair in offsets.windows(2) {
            assert!(
                pair[1] >= pair[0],
                "{}: {id} went back from {} to {} ({offsets:?})",
                table_dir.display(),
                pair[0],
                pair[1]
            );
        }
        entries += offsets.len();
    }
    entries
}

/// A gold table that averages a silver column per group and day (the `avg_score` plugin), and
/// the silver table it reads: where the reference computation finds each part.
pub struct DailyAverage<'a> {
    /// Indices into `Tables::silver` and `Tables::gold`.
    pub silver: usize,
    pub gold: usize,
    /// Silver columns: the group, the averaged value (int64), the event time.
    pub group: &'a str,
    pub value: &'a str,
    pub time: &'a str,
    /// Gold columns: the average and the count.
    pub avg: &'a str,
    pub count: &'a str,
}

/// The posts pipeline's gold table: average score per subreddit and day.
pub const POSTS_GOLD: DailyAverage<'static> = DailyAverage {
    silver: 0,
    gold: 0,
    group: "subreddit",
    value: "score",
    time: "created_utc",
    avg: "avg_score",
    count: "post_count",
};

/// The posts pipeline's gold table (average score per subreddit and day) against its silver.
pub async fn assert_gold_matches_silver(tables: &Tables, format: weir::config::TableFormat) -> usize {
    assert_daily_average(tables, format, &POSTS_GOLD).await
}

/// A daily-average gold table against its silver table, in `format`: each row is the average
/// and count of the silver rows of its group and day, and every day that ended an hour (the
/// allowed lateness) before the slowest (topic, partition)'s newest event is there, once.
/// Returns the number of gold rows.
pub async fn assert_daily_average(
    tables: &Tables,
    format: weir::config::TableFormat,
    spec: &DailyAverage<'_>,
) -> usize {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, TimestampMicrosecondType};
    use std::collections::{BTreeMap, HashMap};
    const DAY_US: i64 = 86_400_000_000;
    const HOUR_US: i64 = 3_600_000_000;

    let silver = tables.silver[spec.silver].read(format).await.unwrap();
    let gold = tables.gold[spec.gold].read(format).await.unwrap();
    let mut sums: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    let mut newest: HashMap<(String, i32), i64> = HashMap::new();
    for batch in &silver {
        let group = batch.column_by_name(spec.group).unwrap().as_string::<i32>();
        let value = batch.column_by_name(spec.value).unwrap().as_primitive::<Int64Type>();
        let time = (batch.column_by_name(spec.time).unwrap()).as_primitive::<TimestampMicrosecondType>();
        let topic = batch.column_by_name("_kafka_topic").unwrap().as_string::<i32>();
        let partition = (batch.column_by_name("_kafka_partition").unwrap()).as_primitive::<Int32Type>();
        for row in 0..batch.num_rows() {
            let t = time.value(row);
            let n = newest
                .entry((topic.value(row).to_string(), partition.value(row)))
                .or_insert(t);
            *n = (*n).max(t);
            let sum = sums
                .entry((group.value(row).to_string(), t - t.rem_euclid(DAY_US)))
                .or_default();
            sum.0 += value.value(row);
            sum.1 += 1;
        }
    }
    let watermark = newest.values().min().unwrap() - HOUR_US;
    sums.retain(|(_, day), _| day + DAY_US <= watermark);
    assert!(!sums.is_empty(), "{format:?}: no day finished: {sums:?}");
    let mut seen = HashSet::new();
    for batch in &gold {
        let group = batch.column_by_name(spec.group).unwrap().as_string::<i32>();
        let start = batch
            .column_by_name("window_start")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let avg = batch.column_by_name(spec.avg).unwrap().as_primitive::<Float64Type>();
        let count = batch.column_by_name(spec.count).unwrap().as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let key = (group.value(row).to_string(), start.value(row));
            let Some(&(sum, n)) = sums.get(&key) else {
                panic!("{format:?}: gold row {key:?} for a day not finished or not in silver");
            };
            assert_eq!(count.value(row), n, "{format:?} {key:?}: count");
            assert!(
                (avg.value(row) - sum as f64 / n as f64).abs() < 1e-9,
                "{format:?} {key:?}: average"
            );
            assert!(seen.insert(key.clone()), "{format:?}: gold row {key:?} twice");
        }
    }
    assert_eq!(
        seen.len(),
        sums.len(),
        "{format:?}: one gold row per group and finished day"
    );
    seen.len()
}
