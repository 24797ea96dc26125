//! Hot reload under load, against a real Kafka-protocol broker (tansu): while records stream in,
//! the transform plugin of a running `weir run` is replaced 20 times, alternating two versions
//! that tag each record with their version, and three broken files are dropped in between (not
//! wasm, the wrong world, an `init` that refuses the stage's config). Every file is written in
//! pieces, like a copy in progress.
//!
//! Checked: every produced record is in silver exactly once; every row carries v1 or v2, never
//! anything else; each Delta commit's lineage (`weir.plugins`) names only the two good versions,
//! and within a commit each partition's rows follow that list in order (a batch runs on one
//! version, versions change only between batches); exactly 20 reloads took effect and the three
//! broken files were refused with their reasons; the process never stopped or restarted the
//! pipeline. A Python plugin (tag-py-v1 / v2, 18 MB components with CPython inside) is replaced
//! 5 times under the same load and checks.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use common::pipeline::sigterm;
use common::services::Tansu;
use common::weir_run::WeirRun;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use sha2::{Digest, Sha256};

const PIPELINE: &str = r#"
[source]
brokers = "${KAFKA_BROKERS}"
topic = "TOPIC"
group = "reload-test-TOPIC"

[source.properties]
"auto.offset.reset" = "earliest"

[[stages]]
name = "tag"
plugin = "tag.wasm"
kind = "transform"

[tables]
location = "${WEIR_LAKEHOUSE}/TOPIC"
format = ["delta"]

[tables.silver]
key = ["id"]
columns = [
  { name = "id", type = "string", nullable = false },
  { name = "n", type = "int64" },
  { name = "plugin_version", type = "string" },
]

[commit]
max_records = 2000
max_interval_ms = 250
"#;

/// The test pipeline reading `topic` into tables under `$WEIR_LAKEHOUSE/<topic>`.
fn pipeline_toml(topic: &str) -> String {
    PIPELINE.replace("TOPIC", topic)
}

/// `weir run` on `pipelines`, logging JSON lines into the returned `Log`.
fn weir_run(pipelines: &Path, brokers: &str, work: &Path) -> (Child, Log) {
    let mut host = WeirRun::new(pipelines, brokers)
        .global(&["--log-format", "json"])
        .listen("127.0.0.1:0")
        .run_args(&["--reload-quiet-ms", "200"])
        .lake(&work.join("lake"), &work.join("cache"))
        .log("warn,weir=info,buoyant_kernel=off,deltalake_core::writer::stats=error")
        .stderr(Stdio::piped())
        .spawn();
    let log = Log::default();
    log.follow(&mut host);
    log.wait_for(&mut host, "running; SIGTERM or Ctrl-C stops after a final commit", 1);
    (host, log)
}

/// What the test drops into the pipeline folder, in order.
enum Drop {
    Good(&'static str),
    Broken(&'static str, Vec<u8>, &'static str),
}

/// Log lines of the host (JSON, one per line), collected as they come.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<serde_json::Value>>>);

impl Log {
    fn follow(&self, child: &mut Child) {
        let stderr = child.stderr.take().unwrap();
        let lines = self.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                match serde_json::from_str(&line) {
                    Ok(value) => lines.lock().unwrap().push(value),
                    Err(_) => eprintln!("weir: {line}"),
                }
            }
        });
    }

    fn with_message(&self, message: &str) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line["fields"]["message"] == message)
            .cloned()
            .collect()
    }

    fn wait_for(&self, host: &mut Child, message: &str, count: usize) {
        let started = Instant::now();
        while self.with_message(message).len() < count {
            if let Some(status) = host.try_wait().unwrap() {
                panic!("weir exited ({status}) while waiting for `{message}`");
            }
            // Generous: a Python or JavaScript plugin's first compile takes tens of seconds in
            // a debug build on a busy machine.
            if started.elapsed() > Duration::from_secs(300) {
                let lines: Vec<String> = self.0.lock().unwrap().iter().map(|l| l.to_string()).collect();
                panic!("waited 300 s for {count} x `{message}`; log:\n{}", lines.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Writes `bytes` to `path` in four pieces with pauses shorter than the host's quiet period,
/// like a copy in progress.
fn write_slowly(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::File::create(path).unwrap();
    for piece in bytes.chunks(bytes.len().div_ceil(4).max(1)) {
        file.write_all(piece).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Produces `{"id": "e<i>", "n": i}` records to `topic` until `stop`, 40 every 20 ms, counting
/// them in `produced`.
fn produce_until(brokers: String, topic: &str, stop: Arc<AtomicBool>, produced: Arc<AtomicUsize>) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..40 {
            let key = format!("e{i}");
            let value = format!(r#"{{"id":"e{i}","n":{i}}}"#);
            producer
                .send(BaseRecord::to(topic).key(&key).payload(&value))
                .map_err(|(e, _)| e)
                .unwrap();
            i += 1;
        }
        producer.poll(Duration::ZERO);
        producer.flush(Duration::from_secs(10)).unwrap();
        produced.store(i, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One Delta commit of the silver table: its lineage and its rows.
struct Commit {
    version: u64,
    plugins: Vec<String>,
    rows: Vec<RecordBatch>,
}

/// Reads every commit of the Delta table at `table` straight from its log and data files.
fn commits(table: &Path) -> Vec<Commit> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for log in logs {
        let version: u64 = log.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let mut plugins = None;
        let mut rows = Vec::new();
        for line in std::fs::read_to_string(&log).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(info) = action.get("commitInfo") {
                plugins = info.get("weir.plugins").map(|p| {
                    p["tag"]
                        .as_array()
                        .unwrap_or_else(|| panic!("weir.plugins of version {version}: {p}"))
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect::<Vec<_>>()
                });
            }
            if let Some(add) = action.get("add") {
                let file = table.join(add["path"].as_str().unwrap());
                let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
                rows.extend(reader.map(Result::unwrap));
            }
        }
        if rows.is_empty() {
            continue; // table creation
        }
        let plugins = plugins.unwrap_or_else(|| panic!("commit {version} has rows but no weir.plugins lineage"));
        out.push(Commit { version, plugins, rows });
    }
    out
}

#[test]
fn a_plugin_replaced_20_times_under_load_loses_and_doubles_nothing() {
    swap_under_load(["weir_tag_v1", "weir_tag_v2"], 20, true);
}

/// The same with a Python plugin (CPython inside, an 18 MB component), 5 times.
#[test]
fn a_python_plugin_replaced_5_times_under_load_loses_and_doubles_nothing() {
    swap_under_load(["weir_tag_py_v1", "weir_tag_py_v2"], 5, false);
}

/// Replaces the running tag plugin `swaps` times, alternating the two `versions` (and dropping
/// three broken files in between when `broken`), while records stream in; then checks silver.
fn swap_under_load(versions: [&str; 2], swaps: usize, broken: bool) {
    let plugins = common::plugin_dir();
    let read = |name: &str| std::fs::read(plugins.join(format!("{name}.wasm"))).unwrap();
    let (v1, v2) = (read(versions[0]), read(versions[1]));
    let version_of: HashMap<String, &str> = [(sha256(&v1), "v1"), (sha256(&v2), "v2")].into();

    let tansu = Tansu::start();
    tansu.create_topic("events", 3);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("pipelines/tagged");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("pipeline.toml"), pipeline_toml("events")).unwrap();
    std::fs::write(folder.join("tag.wasm"), &v1).unwrap();
    let (mut host, log) = weir_run(&work.path().join("pipelines"), &tansu.brokers(), work.path());

    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (brokers, stop, produced) = (tansu.brokers(), stop.clone(), produced.clone());
        std::thread::spawn(move || produce_until(brokers, "events", stop, produced))
    };

    // Good versions alternating v2, v1, ... with a broken file after the 5th, 12th and 18th.
    let mut drops: Vec<Drop> = Vec::new();
    for swap in 1..=swaps {
        drops.push(Drop::Good(if swap % 2 == 1 { "v2" } else { "v1" }));
        match swap * usize::from(broken) {
            5 => drops.push(Drop::Broken(
                "not wasm",
                b"#!/bin/sh\necho this is not a plugin\n".to_vec(),
                "is not a WebAssembly file",
            )),
            12 => drops.push(Drop::Broken(
                "wrong world",
                read("weir_hostile_wrong_world"),
                "does not implement a Weir plugin world",
            )),
            18 => drops.push(Drop::Broken(
                "init refuses config",
                read("weir_tag_strict"),
                "refused its config: this version needs `strict = true`",
            )),
            _ => {}
        }
    }
    let (mut reloaded, mut failed) = (0, 0);
    for drop in &drops {
        // Let records flow through the running version first.
        let before = produced.load(Ordering::Relaxed);
        while produced.load(Ordering::Relaxed) < before + 400 {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        match drop {
            Drop::Good(version) => {
                write_slowly(&folder.join("tag.wasm"), if *version == "v1" { &v1 } else { &v2 });
                reloaded += 1;
                log.wait_for(&mut host, "plugin reloaded", reloaded);
            }
            Drop::Broken(what, bytes, reason) => {
                write_slowly(&folder.join("tag.wasm"), bytes);
                failed += 1;
                log.wait_for(&mut host, "plugin reload failed; the running version stays", failed);
                let line = log.with_message("plugin reload failed; the running version stays")[failed - 1].clone();
                let error = line["fields"]["error"].as_str().unwrap_or_default().to_string();
                assert!(error.contains(reason), "{what}: {error}");
            }
        }
        assert!(host.try_wait().unwrap().is_none(), "weir stopped during the reloads");
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    let total = produced.load(Ordering::Relaxed);

    // Wait for silver to hold everything, then stop the host gracefully.
    let silver = work.path().join("lake/events/silver");
    let started = Instant::now();
    let mut rows = 0;
    while rows < total {
        assert!(host.try_wait().unwrap().is_none(), "weir stopped");
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "silver has {rows} of {total} rows after 90 s"
        );
        std::thread::sleep(Duration::from_millis(500));
        if silver.join("_delta_log").is_dir() {
            rows = commits(&silver)
                .iter()
                .flat_map(|c| &c.rows)
                .map(RecordBatch::num_rows)
                .sum();
        }
    }
    sigterm(&mut host);
    assert!(host.wait().unwrap().success(), "weir exited with an error");

    // Reloads: exactly the good ones took effect, the broken ones were refused, and the pipeline
    // itself was never restarted.
    assert_eq!(log.with_message("plugin reloaded").len(), swaps);
    assert_eq!(
        log.with_message("plugin reload failed; the running version stays")
            .len(),
        if broken { 3 } else { 0 }
    );
    assert_eq!(log.with_message("pipeline started").len(), 1, "the pipeline restarted");

    // Every record once; every row tagged by a good version; lineage in batch order.
    let commits = commits(&silver);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut changes: BTreeMap<i32, (Option<String>, usize)> = BTreeMap::new();
    for commit in &commits {
        for sha in &commit.plugins {
            assert!(
                version_of.contains_key(sha),
                "commit {} names plugin {sha}, which is neither v1 nor v2",
                commit.version
            );
        }
        // Per partition, in offset order, rows must walk the lineage list forwards.
        let mut by_partition: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
        for batch in &commit.rows {
            let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
            let tags = batch.column_by_name("plugin_version").unwrap().as_string::<i32>();
            let partitions = batch
                .column_by_name("_kafka_partition")
                .unwrap()
                .as_primitive::<Int32Type>();
            let offsets = batch
                .column_by_name("_kafka_offset")
                .unwrap()
                .as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                *seen.entry(ids.value(row).to_string()).or_default() += 1;
                by_partition
                    .entry(partitions.value(row))
                    .or_default()
                    .push((offsets.value(row), tags.value(row).to_string()));
            }
        }
        for (partition, mut rows) in by_partition {
            rows.sort();
            let mut position = 0;
            for (offset, tag) in rows {
                assert!(
                    tag == "v1" || tag == "v2",
                    "partition {partition} offset {offset}: tag {tag}"
                );
                let index = commit
                    .plugins
                    .iter()
                    .position(|sha| version_of[sha] == tag)
                    .unwrap_or_else(|| {
                        panic!(
                            "commit {}: a {tag} row (partition {partition}, offset {offset}) but lineage {:?}",
                            commit.version, commit.plugins
                        )
                    });
                assert!(
                    index >= position,
                    "commit {}: partition {partition} goes back to {tag} at offset {offset}",
                    commit.version
                );
                position = index;
                let (last, count) = changes.entry(partition).or_default();
                if last.as_deref() != Some(tag.as_str()) {
                    *count += usize::from(last.is_some());
                    *last = Some(tag);
                }
            }
        }
    }
    assert_eq!(seen.len(), total, "distinct ids in silver vs produced");
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(doubled.is_empty(), "records in silver more than once: {doubled:?}");
    for i in 0..total {
        assert!(
            seen.contains_key(&format!("e{i}")),
            "record e{i} is missing from silver"
        );
    }
    // Versions change only at swaps: at most once per swap per partition, and records did flow
    // between swaps, so the changes are seen.
    let per_partition: Vec<usize> = changes.values().map(|(_, n)| *n).collect();
    assert!(per_partition.iter().all(|n| *n <= swaps), "{per_partition:?}");
    assert!(
        per_partition.iter().sum::<usize>() >= swaps,
        "tag changes per partition {per_partition:?}"
    );
}

/// Every `id` in the silver table at `table`, with how often it is there.
fn silver_ids(table: &Path) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    if !table.join("_delta_log").is_dir() {
        return seen;
    }
    let rows: Vec<RecordBatch> = commits(table).into_iter().flat_map(|c| c.rows).collect();
    for id in common::pipeline::silver_ids(&rows) {
        *seen.entry(id).or_default() += 1;
    }
    seen
}

/// Produces `range` as `{"id": "e<i>", "n": i}` records to `topic`.
fn produce(brokers: &str, topic: &str, range: std::ops::Range<usize>) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    for i in range {
        let (key, value) = (format!("e{i}"), format!(r#"{{"id":"e{i}","n":{i}}}"#));
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// Waits until silver at `table` holds `e0..e<n>`; then checks each is there exactly once.
fn wait_for_silver(host: &mut Child, table: &Path, n: usize) {
    let started = Instant::now();
    loop {
        let seen = silver_ids(table);
        if seen.len() >= n {
            assert_eq!(seen.len(), n, "more ids than produced");
            let doubled: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).take(5).collect();
            assert!(doubled.is_empty(), "records in silver more than once: {doubled:?}");
            return;
        }
        assert!(host.try_wait().unwrap().is_none(), "weir stopped");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} has {} of {n} rows after 60 s",
            table.display(),
            seen.len()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn pipeline_folders_added_changed_and_removed_start_restart_and_stop_only_their_pipeline() {
    let v1 = std::fs::read(common::plugin_dir().join("weir_tag_v1.wasm")).unwrap();
    let tansu = Tansu::start();
    tansu.create_topic("alpha", 2);
    tansu.create_topic("beta", 2);
    let work = tempfile::tempdir().unwrap();
    let pipelines = work.path().join("pipelines");
    let (alpha, beta) = (pipelines.join("alpha"), pipelines.join("beta"));
    std::fs::create_dir_all(&alpha).unwrap();
    std::fs::write(alpha.join("pipeline.toml"), pipeline_toml("alpha")).unwrap();
    std::fs::write(alpha.join("tag.wasm"), &v1).unwrap();
    let (mut host, log) = weir_run(&pipelines, &tansu.brokers(), work.path());
    let silver = |topic: &str| work.path().join(format!("lake/{topic}/silver"));

    produce(&tansu.brokers(), "alpha", 0..500);
    wait_for_silver(&mut host, &silver("alpha"), 500);

    // A new folder: a second pipeline starts beside the first.
    let staging = work.path().join("beta-staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("pipeline.toml"), pipeline_toml("beta")).unwrap();
    std::fs::write(staging.join("tag.wasm"), &v1).unwrap();
    std::fs::rename(&staging, &beta).unwrap();
    log.wait_for(&mut host, "new pipeline started", 1);
    produce(&tansu.brokers(), "beta", 0..300);
    wait_for_silver(&mut host, &silver("beta"), 300);

    // An invalid pipeline.toml: refused, alpha keeps running its old version.
    std::fs::write(
        alpha.join("pipeline.toml"),
        pipeline_toml("alpha").replace("max_records", "max_recs"),
    )
    .unwrap();
    log.wait_for(&mut host, "pipeline.toml change refused; the running version stays", 1);
    let refused = log.with_message("pipeline.toml change refused; the running version stays")[0].clone();
    assert!(
        refused["fields"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("max_recs"),
        "{refused}"
    );
    produce(&tansu.brokers(), "alpha", 500..800);
    wait_for_silver(&mut host, &silver("alpha"), 800);

    // A valid change: alpha alone restarts (beta does not), from its committed offsets.
    std::fs::write(
        alpha.join("pipeline.toml"),
        pipeline_toml("alpha").replace("max_interval_ms = 250", "max_interval_ms = 300"),
    )
    .unwrap();
    log.wait_for(&mut host, "pipeline restarted with its new pipeline.toml", 1);
    let stopped: Vec<_> = log.with_message("pipeline stopped after a final commit");
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    let started: Vec<String> = log
        .with_message("pipeline started")
        .iter()
        .map(|l| l["fields"]["pipeline"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(started, ["alpha", "beta", "alpha"]);
    produce(&tansu.brokers(), "alpha", 800..1_000);
    wait_for_silver(&mut host, &silver("alpha"), 1_000);

    // Removing beta's folder stops beta after a final commit; records produced just before it
    // are committed, not lost.
    produce(&tansu.brokers(), "beta", 300..400);
    std::thread::sleep(Duration::from_millis(100));
    std::fs::remove_dir_all(&beta).unwrap();
    log.wait_for(&mut host, "pipeline stopped after a final commit", 2);
    let last = log.with_message("pipeline stopped after a final commit")[1].clone();
    assert_eq!(last["fields"]["pipeline"], "beta", "{last}");
    // Everything beta had processed is in its silver table: its final commit happened.
    let stats = last["fields"]["stats"].as_str().unwrap_or_default().to_string();
    let processed: usize = stats
        .split("silver_rows: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no silver_rows in {stats}"));
    produce(&tansu.brokers(), "alpha", 1_000..1_100);
    wait_for_silver(&mut host, &silver("alpha"), 1_100);

    sigterm(&mut host);
    assert!(host.wait().unwrap().success(), "weir exited with an error");
    let beta_rows = silver_ids(&silver("beta")).len();
    assert_eq!(
        beta_rows, processed,
        "beta's silver vs what it had processed when it stopped"
    );
    assert!((300..=400).contains(&beta_rows), "beta silver: {beta_rows}");
}

/// In process, no broker needed: the reload counters move as a user would read them on
/// `/metrics`: a broken file counts as failed, a good one as ok once swapped in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_are_counted_by_result() {
    use weir::metrics::metrics;
    use weir::reload::{Supervisor, SupervisorOptions};

    let plugins = common::plugin_dir();
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("pipelines/counted");
    std::fs::create_dir_all(&folder).unwrap();
    let text = pipeline_toml("counted")
        .replace("${KAFKA_BROKERS}", "127.0.0.1:1")
        .replace("${WEIR_LAKEHOUSE}", &work.path().join("lake").display().to_string());
    std::fs::write(folder.join("pipeline.toml"), text).unwrap();
    std::fs::copy(plugins.join("weir_tag_v1.wasm"), folder.join("tag.wasm")).unwrap();

    let engine = weir::plugin::PluginEngine::new(work.path().join("cache")).unwrap();
    let options = SupervisorOptions {
        watch: true,
        quiet: Duration::from_millis(100),
        allow_empty: false,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let root = work.path().join("pipelines");
    let counter = |result: &str| {
        metrics()
            .plugin_reloads
            .with_label_values(&["counted", "tag", result])
            .get()
    };
    fn wait_until(what: &str, check: impl Fn() -> bool) {
        let started = Instant::now();
        while !check() {
            assert!(started.elapsed() < Duration::from_secs(30), "{what} after 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The user, on another thread, while the supervisor runs on this one.
    let user = std::thread::spawn(move || {
        // Let the supervisor start the pipeline and its watch.
        std::thread::sleep(Duration::from_secs(2));
        std::fs::write(folder.join("tag.wasm"), b"not a component").unwrap();
        wait_until("one failed reload", || counter("failed") == 1);
        assert_eq!(counter("ok"), 0);
        std::fs::copy(plugins.join("weir_tag_v2.wasm"), folder.join("tag.wasm")).unwrap();
        wait_until("one successful reload", || counter("ok") == 1);
        assert_eq!(counter("failed"), 1);
        let pauses = metrics().swap_pause.with_label_values(&["counted"]).get_sample_count();
        assert_eq!(pauses, 1);
        assert!(metrics().render().contains("weir_plugin_reloads_total"));
        stop.send(()).unwrap();
    });
    let shutdown = async {
        // Resolves when the user thread says so, or fails (its sender dropped by a panic).
        let _ = stopped.await;
    };
    Supervisor::run(&root, engine, options, shutdown).await.unwrap();
    user.join().expect("the checks on the user thread passed");
}
