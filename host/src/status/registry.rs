//! The process-wide status registry: what each pipeline did lately, kept small (a few recent
//! samples per partition, the last commit per table, the last quarantined records and reloads).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::{Value, json};

use super::quarantined::{Quarantined, rows_of};
use crate::clock::now_ms;
use crate::health::{State, health};

/// How many quarantined records and reloads each pipeline keeps.
const KEEP: usize = 20;
/// Records/s are counted over this long.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// At most one rate sample per partition this often.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One partition's records read and its lag.
#[derive(Debug, Default)]
struct Partition {
    records: u64,
    /// (when, records by then), oldest first: one before the window and those inside it.
    samples: VecDeque<(Instant, u64)>,
    lag: Option<i64>,
}

impl Partition {
    fn add(&mut self, n: u64, now: Instant) {
        self.records += n;
        if self
            .samples
            .back()
            .is_none_or(|(at, _)| now.duration_since(*at) >= SAMPLE_EVERY)
        {
            self.samples.push_back((now, self.records));
        }
        // Keep one sample older than the window, as the rate's base.
        while self
            .samples
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Records/s over the last window (0 for a partition that has been idle that long).
    fn rate(&self, now: Instant) -> f64 {
        let base = (self.samples.iter().rev())
            .find(|(at, _)| now.duration_since(*at) >= RATE_WINDOW)
            .or_else(|| self.samples.front());
        let Some((at, records)) = base else {
            return 0.0;
        };
        let seconds = now.duration_since(*at).as_secs_f64();
        if seconds < 0.5 {
            return 0.0;
        }
        (self.records - records) as f64 / seconds
    }
}

/// The last commit of one table in one format.
#[derive(Debug, Clone, Serialize)]
struct Commit {
    at_ms: i64,
    rows: u64,
    rows_since_start: u64,
    commits_since_start: u64,
    /// The plugin versions (SHA-256) that made the rows: stage -> hashes in order of use.
    plugins: Value,
}

/// One reload of a stage's plugin, as it ended.
#[derive(Debug, Clone, Serialize)]
pub struct Reload {
    pub at_ms: i64,
    pub stage: String,
    /// `swapped`, or `failed` (the running version stays).
    pub result: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
    pub error: Option<String>,
}

impl Reload {
    /// `stage` runs the version `to` instead of `from` (SHA-256 each).
    pub fn swapped(stage: &str, from: &str, to: &str) -> Self {
        Reload {
            at_ms: now_ms(),
            stage: stage.to_string(),
            result: "swapped",
            from: Some(from.to_string()),
            to: Some(to.to_string()),
            error: None,
        }
    }

    /// The new version (`to`, when it got that far) of `stage` was refused; the running one stays.
    pub fn failed(stage: &str, to: Option<&str>, error: &str) -> Self {
        Reload {
            at_ms: now_ms(),
            stage: stage.to_string(),
            result: "failed",
            from: None,
            to: to.map(str::to_string),
            error: Some(error.to_string()),
        }
    }
}

#[derive(Debug, Default)]
struct Pipeline {
    started_ms: i64,
    partitions: BTreeMap<(String, i32), Partition>,
    /// (table, format) -> its last commit.
    tables: BTreeMap<(String, String), Commit>,
    quarantined: VecDeque<Quarantined>,
    reloads: VecDeque<Reload>,
    /// Reloads started and not ended yet.
    reloading: usize,
}

/// What every pipeline of this process did lately.
#[derive(Debug, Default)]
pub struct Registry {
    pipelines: Mutex<BTreeMap<String, Pipeline>>,
}

/// The process-wide registry.
pub fn status() -> &'static Registry {
    static STATUS: OnceLock<Registry> = OnceLock::new();
    STATUS.get_or_init(Registry::default)
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T) {
    list.push_back(item);
    while list.len() > KEEP {
        list.pop_front();
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Pipeline>> {
        self.pipelines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with(&self, pipeline: &str, f: impl FnOnce(&mut Pipeline)) {
        f(self.lock().entry(pipeline.to_string()).or_default());
    }

    /// `pipeline` (re)started: its partitions are read anew; its history stays.
    pub fn started(&self, pipeline: &str) {
        self.with(pipeline, |p| {
            p.started_ms = now_ms();
            p.partitions.clear();
            p.reloading = 0;
        });
    }

    /// `n` records of `topic`/`partition` taken into the pipeline.
    pub fn records_in(&self, pipeline: &str, topic: &str, partition: i32, n: usize) {
        let now = Instant::now();
        self.with(pipeline, |p| {
            let entry = p.partitions.entry((topic.to_string(), partition)).or_default();
            entry.add(n as u64, now);
        });
    }

    /// The consumer's lag on `topic`/`partition`, from the client's statistics.
    pub fn lag(&self, pipeline: &str, topic: &str, partition: i32, lag: i64) {
        self.with(pipeline, |p| {
            p.partitions.entry((topic.to_string(), partition)).or_default().lag = Some(lag);
        });
    }

    /// `topic`/`partition` was taken away from this host.
    pub fn revoked(&self, pipeline: &str, topic: &str, partition: i32) {
        self.with(pipeline, |p| {
            p.partitions.remove(&(topic.to_string(), partition));
        });
    }

    /// A commit of `rows` rows to `table` in `format`, with the commit's metadata (its
    /// `weir.plugins` is the lineage of the rows).
    pub fn committed(&self, pipeline: &str, table: &str, format: &str, rows: usize, metadata: Option<&Value>) {
        let plugins = metadata.cloned().unwrap_or(Value::Null);
        self.with(pipeline, |p| {
            let key = (table.to_string(), format.to_string());
            let (since, commits) = p
                .tables
                .get(&key)
                .map_or((0, 0), |c| (c.rows_since_start, c.commits_since_start));
            let commit = Commit {
                at_ms: now_ms(),
                rows: rows as u64,
                rows_since_start: since + rows as u64,
                commits_since_start: commits + 1,
                plugins,
            };
            p.tables.insert(key, commit);
        });
    }

    /// The rows of a committed quarantine batch. Each row is listed once, however many formats
    /// commit it.
    pub fn quarantined(&self, pipeline: &str, batches: &[RecordBatch]) {
        let rows: Vec<Quarantined> = batches.iter().flat_map(rows_of).collect();
        if rows.is_empty() {
            return;
        }
        self.with(pipeline, |p| {
            for row in rows {
                if !p.quarantined.iter().any(|q| q.same_record(&row)) {
                    push_bounded(&mut p.quarantined, row);
                }
            }
        });
    }

    /// A plugin reload of `pipeline` started (the new version compiles and starts).
    pub fn reload_started(&self, pipeline: &str) {
        self.with(pipeline, |p| p.reloading += 1);
    }

    /// A reload started by [`Registry::reload_started`] ended: handed over, dropped or failed.
    pub fn reload_ended(&self, pipeline: &str) {
        self.with(pipeline, |p| p.reloading = p.reloading.saturating_sub(1));
    }

    /// A stage's plugin was swapped in, or its reload failed.
    pub fn reloaded(&self, pipeline: &str, reload: Reload) {
        self.with(pipeline, |p| push_bounded(&mut p.reloads, reload));
    }

    /// Every pipeline this process ran, as `/api/status` answers (newest entries first).
    pub fn snapshot(&self) -> Value {
        let states: BTreeMap<String, (State, String)> = (health().states().into_iter())
            .map(|(name, state, why)| (name, (state, why)))
            .collect();
        let now = Instant::now();
        let pipelines = self.lock();
        let mut names: Vec<&String> = pipelines.keys().chain(states.keys()).collect();
        names.sort();
        names.dedup();
        let empty = Pipeline::default();
        let list: Vec<Value> = (names.into_iter())
            .map(|name| {
                let p = pipelines.get(name).unwrap_or(&empty);
                let (state, reason) = match states.get(name) {
                    Some((State::Consuming, _)) if p.reloading > 0 => ("reloading", None),
                    Some((State::Consuming, _)) => ("consuming", None),
                    Some((state, why)) => (state.name(), Some(why.clone())),
                    None => ("stopped", Some("not running".to_string())),
                };
                pipeline_json(name, state, reason, p, now)
            })
            .collect();
        json!({ "now_ms": now_ms(), "pipelines": list })
    }
}

fn pipeline_json(name: &str, state: &str, reason: Option<String>, p: &Pipeline, now: Instant) -> Value {
    let partitions: Vec<Value> = (p.partitions.iter())
        .map(|((topic, partition), stats)| {
            json!({
                "topic": topic,
                "partition": partition,
                "records": stats.records,
                "records_per_second": (stats.rate(now) * 10.0).round() / 10.0,
                "lag": stats.lag,
            })
        })
        .collect();
    let tables: Vec<Value> = (p.tables.iter())
        .map(|((table, format), commit)| {
            let mut entry = json!({ "table": table, "format": format });
            if let (Value::Object(entry), Ok(Value::Object(commit))) = (&mut entry, serde_json::to_value(commit)) {
                entry.extend(commit);
            }
            entry
        })
        .collect();
    json!({
        "name": name,
        "state": state,
        "reason": reason,
        "started_ms": p.started_ms,
        "records_per_second": (p.partitions.values().map(|s| s.rate(now)).sum::<f64>() * 10.0).round() / 10.0,
        "partitions": partitions,
        "tables": tables,
        "quarantined": p.quarantined.iter().rev().collect::<Vec<_>>(),
        "reloads": p.reloads.iter().rev().collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_counts_the_last_window_and_falls_to_zero_when_idle() {
        let mut partition = Partition::default();
        let start = Instant::now();
        for second in 0..30u64 {
            partition.add(100, start + Duration::from_secs(second));
        }
        let rate = partition.rate(start + Duration::from_secs(29));
        assert!((rate - 100.0).abs() < 1.0, "{rate}");
        assert!(partition.samples.len() <= 12, "{}", partition.samples.len());
        assert_eq!(partition.rate(start + Duration::from_secs(200)), 0.0);
        assert_eq!(Partition::default().rate(start), 0.0);
    }

    #[test]
    fn commits_reloads_and_states_show_in_the_snapshot() {
        let registry = Registry::default();
        registry.started("status-test");
        registry.records_in("status-test", "posts", 3, 10);
        registry.lag("status-test", "posts", 3, 42);
        let lineage = json!({"validate": ["abc"]});
        registry.committed("status-test", "silver", "delta", 7, Some(&lineage));
        registry.committed("status-test", "silver", "delta", 5, Some(&lineage));
        for i in 0..(KEEP + 5) {
            registry.reloaded(
                "status-test",
                Reload {
                    at_ms: i as i64,
                    stage: "validate".into(),
                    result: "swapped",
                    from: None,
                    to: None,
                    error: None,
                },
            );
        }
        let snapshot = registry.snapshot();
        let pipeline = (snapshot["pipelines"].as_array().unwrap().iter())
            .find(|p| p["name"] == "status-test")
            .unwrap();
        assert_eq!(pipeline["state"], "stopped", "not registered in health: not running");
        assert_eq!(pipeline["partitions"][0]["lag"], 42);
        assert_eq!(pipeline["partitions"][0]["records"], 10);
        let table = &pipeline["tables"][0];
        assert_eq!(
            (table["rows"].as_u64(), table["rows_since_start"].as_u64()),
            (Some(5), Some(12))
        );
        assert_eq!(table["plugins"], lineage);
        let reloads = pipeline["reloads"].as_array().unwrap();
        assert_eq!(reloads.len(), KEEP);
        assert_eq!(reloads[0]["at_ms"], (KEEP + 4) as i64, "newest first");
    }
}
