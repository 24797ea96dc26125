//! Gold tables against a real Kafka-protocol broker (tansu) and `weir run` as a process: events
//! with known event times, out of order within the allowed lateness, some far too late, some
//! without a time, some repeated. Gold (tumbling and hopping windows, Delta and Iceberg) must
//! equal a reference computed plainly below, also after five SIGKILLs in the middle of open
//! windows.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Child;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use common::Lcg;
use common::pipeline::{delta_versions, rows, sigterm, tables_reached, wait_for_delta_commit};
use common::services::Tansu;
use common::weir_run::WeirRun;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use weir::config::{self, Pipeline, TableFormat};
use weir::pipeline::Tables;

const PARTITIONS: i32 = 3;
const USERS: usize = 7;
const SECOND_US: i64 = 1_000_000;
const MINUTE_US: i64 = 60 * SECOND_US;
/// 2023-11-14T22:13:20Z, in µs.
const BASE_US: i64 = 1_700_000_000 * SECOND_US;

/// Year 5138: far more than `max_ahead` (default 1 h) past any Kafka timestamp.
const FAR_FUTURE_US: i64 = 100_000_000_000 * SECOND_US;

/// The two gold tables of the test pipeline: (name, size, slide, allowed lateness), in µs.
const GOLD: [(&str, i64, i64, i64); 2] = [
    ("per_minute", MINUTE_US, MINUTE_US, 20 * SECOND_US),
    ("sliding", 3 * MINUTE_US, MINUTE_US, 40 * SECOND_US),
];

fn pipeline_text() -> String {
    let mut text = r#"
[source]
brokers = "${KAFKA_BROKERS}"
topic = "events"
group = "${GROUP}"

[source.properties]
"auto.offset.reset" = "earliest"
"session.timeout.ms" = "3000"

[tables]
location = "${WEIR_LAKEHOUSE}/events"
format = ["delta", "iceberg"]

[tables.silver]
key = ["id"]
columns = [
  { name = "id", type = "string", nullable = false },
  { name = "user", type = "string" },
  { name = "amount", type = "int64" },
  { name = "ts", type = "timestamp", unit = "ms" },
]

[commit]
max_interval_ms = 300
"#
    .to_string();
    for (name, size, slide, lateness) in GOLD {
        text.push_str(&format!(
            r#"
[[gold]]
name = "{name}"
plugin = "avg_score.wasm"
config = {{ group_by = "user", field = "amount", output = "avg_amount", count_output = "n" }}
event_time = "ts"
window = {{ size = "{}s", slide = "{}s" }}
allowed_lateness = "{}s"
key_column = "user"
columns = [{{ name = "avg_amount", type = "float64" }}, {{ name = "n", type = "int64" }}]
"#,
            size / SECOND_US,
            slide / SECOND_US,
            lateness / SECOND_US
        ));
    }
    text
}

/// One produced event.
#[derive(Debug, Clone)]
struct Event {
    partition: i32,
    id: String,
    user: String,
    amount: i64,
    ts_us: Option<i64>,
}

impl Event {
    fn json(&self) -> String {
        match self.ts_us {
            Some(ts) => format!(
                r#"{{"id":"{}","user":"{}","amount":{},"ts":{}}}"#,
                self.id,
                self.user,
                self.amount,
                ts / 1_000
            ),
            None => format!(
                r#"{{"id":"{}","user":"{}","amount":{}}}"#,
                self.id, self.user, self.amount
            ),
        }
    }
}

/// `n` events, per partition in the order produced: event times advance 400 ms per event with
/// up to ±15 s of disorder; every 53rd is 3 minutes behind (late for both gold tables), every
/// 61st has no time, every 41st repeats an earlier event of its partition, and a few are dated
/// in year 5138 (quarantined as `future`, never moving the watermark).
fn events(n: usize, seed: u64) -> Vec<Event> {
    let mut rng = Lcg(seed);
    let mut out: Vec<Event> = Vec::with_capacity(n);
    for i in 0..n {
        let partition = (i % PARTITIONS as usize) as i32;
        if i % 41 == 40 {
            let earlier = out.iter().rev().find(|e| e.partition == partition).cloned();
            if let Some(repeat) = earlier {
                out.push(repeat);
                continue;
            }
        }
        let jitter = rng.below(30_000) as i64 - 15_000;
        let mut ts = BASE_US + i as i64 * 400_000 + jitter * 1_000;
        if i % 53 == 52 {
            ts -= 3 * MINUTE_US;
        }
        if i % 997 == 500 {
            ts = FAR_FUTURE_US;
        }
        out.push(Event {
            partition,
            id: format!("e{i:06}"),
            user: format!("user{}", rng.below(USERS as u64)),
            amount: rng.below(1_000) as i64,
            ts_us: (i % 61 != 60).then_some(ts),
        });
    }
    out
}

fn produce(brokers: &str, events: &[Event]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for event in events {
        let value = event.json();
        loop {
            let record = BaseRecord::to("events")
                .partition(event.partition)
                .key(event.id.as_str())
                .payload(value.as_str());
            match producer.send(record) {
                Ok(()) => break,
                Err((_, _)) => producer.poll(Duration::from_millis(50)),
            };
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// One gold row: (key, window start) → (avg, count).
type GoldRows = BTreeMap<(String, i64), (f64, i64)>;

/// What each gold table must hold, computed plainly: per partition in offset order, the first
/// event of each id with a time counts unless the first window holding it ended at or before
/// its partition's newest counted time less the lateness; every window ending by the slowest
/// partition's watermark at the end is written, with the average and count of its events.
/// Also returns the number of late events.
fn reference(events: &[Event], size: i64, slide: i64, lateness: i64) -> (GoldRows, usize) {
    let mut seen = HashSet::new();
    let mut newest: HashMap<i32, i64> = HashMap::new();
    let mut counted: Vec<&Event> = Vec::new();
    let mut late = 0;
    for event in events {
        if !seen.insert(event.id.clone()) {
            continue;
        }
        let Some(ts) = event.ts_us else { continue };
        if ts == FAR_FUTURE_US {
            continue;
        }
        let pane = ts - ts.rem_euclid(slide);
        if newest
            .get(&event.partition)
            .is_some_and(|n| pane + slide <= n - lateness)
        {
            late += 1;
            continue;
        }
        let n = newest.entry(event.partition).or_insert(ts);
        *n = (*n).max(ts);
        counted.push(event);
    }
    let watermark = newest.values().min().unwrap() - lateness;
    let mut sums: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for event in counted {
        let ts = event.ts_us.unwrap();
        let pane = ts - ts.rem_euclid(slide);
        for k in 0..size / slide {
            let start = pane - k * slide;
            if start + size <= watermark {
                let sum = sums.entry((event.user.clone(), start)).or_default();
                sum.0 += event.amount;
                sum.1 += 1;
            }
        }
    }
    let rows = sums
        .into_iter()
        .map(|(key, (sum, n))| (key, (sum as f64 / n as f64, n)))
        .collect();
    (rows, late)
}

fn gold_rows(batches: &[RecordBatch]) -> GoldRows {
    let mut out = GoldRows::new();
    for batch in batches {
        let users = batch.column_by_name("user").unwrap().as_string::<i32>();
        let starts = batch
            .column_by_name("window_start")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let avgs = batch
            .column_by_name("avg_amount")
            .unwrap()
            .as_primitive::<Float64Type>();
        let counts = batch.column_by_name("n").unwrap().as_primitive::<Int64Type>();
        let errors = batch.column_by_name("_error").unwrap();
        for row in 0..batch.num_rows() {
            assert!(errors.is_null(row), "a window failed: {batch:?}");
            let key = (users.value(row).to_string(), starts.value(row));
            let previous = out.insert(key.clone(), (avgs.value(row), counts.value(row)));
            assert!(previous.is_none(), "window {key:?} written twice");
        }
    }
    out
}

fn assert_same(name: &str, format: TableFormat, got: &GoldRows, want: &GoldRows) {
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).take(5).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name} {format:?}: {} rows, want {}; missing {missing:?}, extra {extra:?}",
        got.len(),
        want.len()
    );
    for (key, (avg, n)) in want {
        let (got_avg, got_n) = got[key];
        assert_eq!(got_n, *n, "{name} {format:?} {key:?}: count");
        assert!(
            (got_avg - avg).abs() < 1e-9,
            "{name} {format:?} {key:?}: avg {got_avg} != {avg}"
        );
    }
}

/// Writes the test pipeline, with the avg-score plugin, as `pipelines/events`; returns the folder.
fn write_pipeline(pipelines: &std::path::Path) -> std::path::PathBuf {
    let folder = pipelines.join("events");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        common::repo_root().join("pipelines/posts/avg_score.wasm"),
        folder.join("avg_score.wasm"),
    )
    .unwrap();
    std::fs::write(folder.join("pipeline.toml"), pipeline_text()).unwrap();
    folder
}

struct Setup {
    tansu: Tansu,
    _work: tempfile::TempDir,
    pipelines: std::path::PathBuf,
    lakehouse: std::path::PathBuf,
    pipeline: Pipeline,
    group: String,
}

fn setup(group: &str) -> Setup {
    let tansu = Tansu::start();
    tansu.create_topic("events", PARTITIONS as u32);
    let work = tempfile::tempdir().unwrap();
    let pipelines = work.path().join("pipelines");
    let lakehouse = work.path().join("lakehouse");
    let folder = write_pipeline(&pipelines);
    let vars = [
        ("KAFKA_BROKERS".to_string(), tansu.brokers()),
        ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
        ("GROUP".to_string(), group.to_string()),
    ]
    .into();
    let pipeline = config::load(&folder.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    Setup {
        tansu,
        _work: work,
        pipelines,
        lakehouse,
        pipeline,
        group: group.into(),
    }
}

impl Setup {
    /// `weir run` on the test pipeline, logging at `level` to `log`.
    fn weir_run_to(&self, level: &str, log: std::fs::File) -> Child {
        WeirRun::new(&self.pipelines, &self.tansu.brokers())
            .listen("127.0.0.1:0")
            .lake(&self.lakehouse, &self.lakehouse.join("cache"))
            .env("GROUP", &self.group)
            .log(level)
            .stderr(log)
            .spawn()
    }

    fn weir_run(&self) -> Child {
        self.weir_run_to("warn", self.log())
    }

    /// `weir run` logging at info level to its own file.
    fn weir_run_logged(&self, log: &std::path::Path) -> Child {
        self.weir_run_to("info", std::fs::File::create(log).unwrap())
    }

    /// Every run's log, appended to one file (shown when the test fails).
    fn log(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.lakehouse.with_file_name("weir.log"))
            .unwrap()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.lakehouse.with_file_name("weir.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    async fn tables(&self) -> Option<Tables> {
        Tables::open(&self.pipeline).await.ok()
    }

    /// Waits until every table (gold included) holds the whole topic.
    async fn wait_for_end(&self, total: usize) {
        let started = Instant::now();
        loop {
            if let Some(mut tables) = self.tables().await
                && tables_reached(&mut tables, "events", PARTITIONS, total as i64).await
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "the tables did not reach the end of the topic within 600 s; weir's log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Both formats of both gold tables equal the reference, and quarantine holds each late
    /// event once per gold table that refused it.
    async fn check(&self, events: &[Event]) {
        let tables = self.tables().await.unwrap();
        for format in [TableFormat::Delta, TableFormat::Iceberg] {
            let quarantine = tables.quarantine.read(format).await.unwrap();
            let mut reasons: HashMap<(String, &str), usize> = HashMap::new();
            for batch in &quarantine {
                let stages = batch.column_by_name("stage").unwrap().as_string::<i32>();
                let why = batch.column_by_name("reason").unwrap().as_string::<i32>();
                for row in 0..batch.num_rows() {
                    let reason = why.value(row);
                    let kind = ["late: ", "future: "]
                        .into_iter()
                        .find(|k| reason.starts_with(k))
                        .unwrap_or("other");
                    *reasons.entry((stages.value(row).to_string(), kind)).or_default() += 1;
                }
            }
            let first = |what: &dyn Fn(&Event) -> bool| {
                let mut seen = HashSet::new();
                events.iter().filter(|e| seen.insert(e.id.clone()) && what(e)).count()
            };
            let no_time = first(&|e| e.ts_us.is_none());
            let future = first(&|e| e.ts_us == Some(FAR_FUTURE_US));
            assert!(future >= 2, "a weak test: {future} events from the future");
            for (i, (name, size, slide, lateness)) in GOLD.into_iter().enumerate() {
                let (want, late) = reference(events, size, slide, lateness);
                assert!(
                    want.len() > 50 && late > 10,
                    "a weak reference: {} rows, {late} late",
                    want.len()
                );
                let got = gold_rows(&tables.gold[i].read(format).await.unwrap());
                assert_same(name, format, &got, &want);
                let count = |kind: &str| reasons.get(&(name.to_string(), kind)).copied().unwrap_or(0);
                assert_eq!(count("late: "), late, "{name} {format:?}: late events in quarantine");
                assert_eq!(
                    count("future: "),
                    future,
                    "{name} {format:?}: future events in quarantine"
                );
                assert_eq!(count("other"), no_time, "{name} {format:?}: events without a time");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_and_late_events_land_in_gold_as_a_plain_reference_computes() {
    let setup = setup("gold-reference");
    let events = events(3_000, 7);
    produce(&setup.tansu.brokers(), &events);
    let mut host = setup.weir_run();
    setup.wait_for_end(events.len()).await;
    sigterm(&mut host);
    setup.check(&events).await;
}

/// Produced in chunks, one before each run; each run is killed after the test saw it commit
/// gold (at once, or up to 1.5 s later), so kills fall in the middle of open windows with state
/// checkpointed and records in flight, and between the tables' commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_sigkills_in_open_windows_leave_gold_equal_to_the_reference() {
    let setup = setup("gold-crash");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("seed: {seed}");
    let events = events(6_000, seed);
    let brokers = setup.tansu.brokers();
    let mut chunks = events.chunks(1_000);
    let tables = setup.lakehouse.join("events");
    let mut rng = Lcg(seed);
    for kill in 0..5 {
        produce(&brokers, chunks.next().unwrap());
        let before = delta_versions(&tables, "gold_per_minute");
        let mut host = setup.weir_run();
        let committed = tokio::task::block_in_place(|| {
            wait_for_delta_commit(&tables, "gold_per_minute", before, Duration::from_secs(300))
        });
        if !committed {
            host.kill().unwrap();
            panic!("run {kill}: no gold commit within 300 s; log:\n{}", setup.log_tail());
        }
        let delay = if kill % 2 == 0 { 0 } else { rng.below(1_500) };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        host.kill().unwrap(); // SIGKILL
        host.wait().unwrap();
        println!("kill {kill}: {delay} ms after a gold commit");
    }
    for chunk in chunks {
        produce(&brokers, chunk);
    }
    let mut host = setup.weir_run();
    setup.wait_for_end(events.len()).await;
    sigterm(&mut host);
    let log = std::fs::read_to_string(setup.lakehouse.with_file_name("weir.log")).unwrap_or_default();
    println!(
        "rebalances that reset gold to its last commit: {}",
        log.matches("gold state reset to the last commit").count()
    );
    setup.check(&events).await;
}

fn log_has(log: &std::path::Path, needle: &str) -> bool {
    std::fs::read_to_string(log).unwrap_or_default().contains(needle)
}

fn wait_for_log(log: &std::path::Path, needle: &str, limit: Duration) {
    let started = Instant::now();
    while !log_has(log, needle) {
        assert!(
            started.elapsed() < limit,
            "no `{needle}` in {} within {limit:?}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two hosts run the same gold pipeline: the first takes the writer lease and the partitions,
/// the second stands by outside the consumer group and writes nothing; SIGKILL the first and the
/// second takes over. Gold ends equal to the reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_host_stands_by_and_takes_over_gold_when_the_writer_dies() {
    let setup = setup("gold-lease");
    let events = events(4_000, 11);
    let brokers = setup.tansu.brokers();
    let mut chunks = events.chunks(1_000);
    let tables = setup.lakehouse.join("events");
    let work = setup.lakehouse.with_file_name("logs");
    std::fs::create_dir_all(&work).unwrap();
    let (log_a, log_b) = (work.join("a.log"), work.join("b.log"));

    produce(&brokers, chunks.next().unwrap());
    let mut a = setup.weir_run_logged(&log_a);
    wait_for_log(&log_a, "gold writer lease taken", Duration::from_secs(300));
    let mut b = setup.weir_run_logged(&log_b);
    wait_for_log(&log_b, "standing by", Duration::from_secs(120));
    // The writer goes on committing while the standby waits.
    let before = delta_versions(&tables, "gold_per_minute");
    produce(&brokers, chunks.next().unwrap());
    let committed = tokio::task::block_in_place(|| {
        wait_for_delta_commit(&tables, "gold_per_minute", before, Duration::from_secs(300))
    });
    assert!(
        committed,
        "the writer stopped committing:\n{}",
        std::fs::read_to_string(&log_a).unwrap_or_default()
    );
    assert!(!log_has(&log_b, "partitions assigned"), "the standby joined the group");
    assert!(!log_has(&log_b, "gold writer lease taken"), "two writers");

    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    let killed = Instant::now();
    wait_for_log(&log_b, "gold writer lease taken", Duration::from_secs(120));
    println!(
        "the standby took the lease {} ms after the writer died",
        killed.elapsed().as_millis()
    );
    for chunk in chunks {
        produce(&brokers, chunk);
    }
    setup.wait_for_end(events.len()).await;
    sigterm(&mut b);
    assert!(log_has(&log_b, "partitions assigned"));
    setup.check(&events).await;
}

/// The test pipeline under `work`, with its first gold table only and no broker (records are
/// fed with `PipelineRunner::ingest`); also returns its folder.
fn offline_pipeline(work: &std::path::Path, group: &str) -> (Pipeline, std::path::PathBuf) {
    let folder = write_pipeline(&work.join("pipelines"));
    let vars = [
        ("KAFKA_BROKERS".to_string(), "127.0.0.1:1".to_string()),
        ("WEIR_LAKEHOUSE".to_string(), work.join("lake").display().to_string()),
        ("GROUP".to_string(), group.to_string()),
    ]
    .into();
    let mut pipeline = config::load(&folder.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    pipeline.gold.truncate(1);
    (pipeline, folder)
}

/// The events as one partition's batch, offsets from `first`.
fn batch(events: &[Event], first: usize) -> weir::source::PartitionBatch {
    weir::source::PartitionBatch {
        topic: "events".into(),
        partition: 0,
        records: events
            .iter()
            .enumerate()
            .map(|(i, e)| weir::source::SourceRecord {
                partition: 0,
                offset: (first + i) as i64,
                timestamp_ms: None,
                key: Some(e.id.clone().into_bytes()),
                value: Some(e.json().into_bytes()),
                headers: Vec::new(),
                malformed: None,
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_aggregate_version_takes_over_open_windows_only_if_it_reads_their_state() {
    use weir::gold::GoldAggregator;
    use weir::pipeline::{PipelineRunner, StageSwap, swap_channel};
    use weir::plugin::{Plugin, PluginEngine};

    let work = tempfile::tempdir().unwrap();
    let (mut pipeline, folder) = offline_pipeline(work.path(), "gold-swap");
    std::fs::copy(common::plugin_path("weir_count"), folder.join("count.wasm")).unwrap();
    pipeline.tables.format = vec![TableFormat::Delta];
    let gold = pipeline.gold[0].clone();
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    let mut events = events(800, 11);
    for event in &mut events {
        event.partition = 0;
    }

    let mut runner = PipelineRunner::start(pipeline.clone(), &engine).await.unwrap();
    let (swaps, receiver) = swap_channel();
    runner.accept_swaps(receiver);
    runner.ingest(batch(&events[..400], 0)).unwrap();
    let running = runner.gold_versions()[0].1.clone();
    assert!(runner.gold_groups()[0] > 0, "open windows before the swaps");

    // A version with another state format is refused; the running one keeps the windows.
    let count = Plugin::load_file(&engine, &folder.join("count.wasm")).unwrap();
    let incompatible = GoldAggregator::start_plugin(&pipeline.name, &gold, count.clone()).unwrap();
    swaps.send(StageSwap {
        gold: vec![(0, incompatible)],
        ..StageSwap::default()
    });
    runner.apply_swaps();
    let refused = &runner.swapped().last().unwrap().refused;
    assert_eq!(refused.len(), 1);
    assert!(refused[0].2.contains("state must be 8 bytes"), "{refused:?}");
    assert_eq!(runner.gold_versions()[0].1, running);
    assert!(runner.gold_groups()[0] > 0);

    // A version that reads the state takes the open windows over.
    let avg = Plugin::load_file(&engine, &folder.join("avg_score.wasm")).unwrap();
    let compatible = GoldAggregator::start_plugin(&pipeline.name, &gold, avg).unwrap();
    swaps.send(StageSwap {
        gold: vec![(0, compatible)],
        ..StageSwap::default()
    });
    runner.apply_swaps();
    let swapped = runner.swapped().last().unwrap();
    assert!(swapped.refused.is_empty());
    assert_eq!(swapped.stages.len(), 1);
    runner.ingest(batch(&events[400..], 400)).unwrap();
    runner.flush().await.unwrap();
    assert!(runner.gold_groups()[0] > 0, "windows still open at the end");
    drop(runner);

    // Every window counts the records before and after the swap.
    let tables = Tables::open(&pipeline).await.unwrap();
    let (name, size, slide, lateness) = GOLD[0];
    let (want, _) = reference(&events, size, slide, lateness);
    let got = gold_rows(&tables.gold[0].read_all().await.unwrap());
    assert_same(name, TableFormat::Delta, &got, &want);
    drop(tables);

    // A restart with the incompatible version on disk is refused with the reason.
    let mut changed = pipeline.clone();
    changed.gold[0].plugin = folder.join("count.wasm");
    let error = PipelineRunner::start(changed, &engine).await.unwrap_err().to_string();
    assert!(error.contains("cannot read the state of the open windows"), "{error}");
    assert!(error.contains("state must be 8 bytes"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_left_one_gold_commit_behind_by_a_crash_gets_that_commits_rows_on_start() {
    use std::collections::BTreeSet;
    use weir::gold::{GoldAggregator, GoldInput};
    use weir::pipeline::{GoldTable, PipelineRunner};
    use weir::plugin::{PluginEngine, Record};

    let work = tempfile::tempdir().unwrap();
    let (pipeline, _) = offline_pipeline(work.path(), "gold-repair");
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    let mut events = events(900, 5);
    for event in &mut events {
        event.partition = 0;
    }

    // Gold commit 1 in both formats.
    let mut runner = PipelineRunner::start(pipeline.clone(), &engine).await.unwrap();
    runner.ingest(batch(&events[..400], 0)).unwrap();
    runner.flush().await.unwrap();
    drop(runner);

    // Gold commit 2 reaches Delta, and the process dies before Iceberg's commit.
    let mut tables = Tables::open(&pipeline).await.unwrap();
    let aggregator = GoldAggregator::start(&pipeline.name, &pipeline.gold[0], &engine).unwrap();
    let mut gold = GoldTable::open(&pipeline, &pipeline.gold[0], &mut tables.gold[0], aggregator)
        .await
        .unwrap();
    let records: Vec<(Record, Option<i64>)> = events[400..]
        .iter()
        .map(|e| {
            let record = Record {
                key: None,
                value: e.json(),
                timestamp_ms: None,
            };
            (record, e.ts_us)
        })
        .collect();
    let inputs: Vec<GoldInput<'_>> = records
        .iter()
        .map(|(record, event_us)| GoldInput {
            record,
            event_us: *event_us,
            arrived_us: weir::cli::now_ms() * 1_000,
        })
        .collect();
    tokio::task::block_in_place(|| {
        gold.aggregator
            .ingest(&weir::source::TopicPartition::new("events", 0), &inputs)
    });
    let offsets = vec![("events".to_string(), 0, events.len() as i64)];
    let data = gold
        .prepare(1, &BTreeSet::new(), &offsets, &HashMap::new())
        .await
        .unwrap();
    let new_rows = rows(&data.batches);
    assert!(new_rows > 0, "commit 2 finishes windows");
    assert_eq!(tables.gold[0].sinks[0].format(), TableFormat::Delta);
    tables.gold[0].sinks[0].commit(data).await.unwrap();
    drop((gold, tables));
    let before = Tables::open(&pipeline).await.unwrap();
    let delta = rows(&before.gold[0].read(TableFormat::Delta).await.unwrap());
    let iceberg = rows(&before.gold[0].read(TableFormat::Iceberg).await.unwrap());
    assert_eq!(delta, iceberg + new_rows, "Iceberg is one gold commit behind");
    drop(before);

    // On start, Iceberg gets commit 2's rows from its checkpoint: both formats agree again.
    drop(PipelineRunner::start(pipeline.clone(), &engine).await.unwrap());
    let after = Tables::open(&pipeline).await.unwrap();
    let delta = gold_rows(&after.gold[0].read(TableFormat::Delta).await.unwrap());
    let iceberg = gold_rows(&after.gold[0].read(TableFormat::Iceberg).await.unwrap());
    assert_eq!(delta.len(), iceberg.len());
    assert_same("per_minute", TableFormat::Iceberg, &iceberg, &delta);
    let cp = after.gold[0].sinks[1]
        .next_offset(weir::pipeline::CHECKPOINT_TOPIC, 0)
        .await
        .unwrap();
    assert_eq!(cp, Some(2), "Iceberg is at checkpoint 2");
}
