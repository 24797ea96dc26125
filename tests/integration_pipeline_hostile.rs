//! A pipeline against a plugin that means harm (plugins/hostile/misbehave): a record flat-mapped
//! to a million outputs that do not fit silver is quarantined once, quickly; and `weir run`, as a
//! process against a real broker (tansu), answers SIGTERM within seconds while a plugin sleeps in
//! a call and while a new version of it sleeps in `init`, and hears later changes meanwhile.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use common::pipeline::{copy_posts_pipeline, rows, strip_gold};
use common::services::Tansu;
use common::weir_run::WeirRun;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use weir::cli::demo;
use weir::config::{self, TableFormat};
use weir::pipeline::{PipelineRunner, Tables};
use weir::plugin::PluginEngine;
use weir::source::{PartitionBatch, SourceRecord};

/// Adds a stage running plugins/hostile/misbehave (as `file`) to the copied posts pipeline:
/// `first` puts it before normalize, else after the last stage.
fn with_hostile_stage(dir: &Path, file: &str, config: &str, deadline_ms: u64, first: bool) -> std::path::PathBuf {
    let stage = format!(
        "[[stages]]\nname = \"hostile\"\nplugin = \"{file}\"\nkind = \"transform\"\n\
         config = {config}\nlimits = {{ deadline_ms = {deadline_ms} }}\n\n"
    );
    let (anchor, replacement) = match first {
        true => (
            "[[stages]]\nname = \"normalize\"",
            format!("{stage}[[stages]]\nname = \"normalize\""),
        ),
        false => ("[tables]\nlocation", format!("{stage}[tables]\nlocation")),
    };
    let pipelines = copy_posts_pipeline(dir, &[(anchor, replacement.as_str())]);
    strip_gold(&pipelines);
    std::fs::copy(
        common::plugin_path("weir-hostile-misbehave"),
        pipelines.join("posts").join(file),
    )
    .unwrap();
    pipelines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_flat_mapped_to_a_million_unfit_outputs_is_quarantined_once_in_under_30_s() {
    let work = tempfile::tempdir().unwrap();
    let pipelines = with_hostile_stage(
        &work.path().join("pipelines"),
        "flood.wasm",
        "{ outputs = 1000000 }",
        10_000,
        false,
    );
    let vars = [
        ("KAFKA_BROKERS".to_string(), "127.0.0.1:1".to_string()),
        (
            "WEIR_LAKEHOUSE".to_string(),
            work.path().join("lake").display().to_string(),
        ),
    ]
    .into();
    let mut pipeline = config::load(&pipelines.join("posts/pipeline.toml"), &config::from_map(&vars)).unwrap();
    pipeline.tables.format = vec![TableFormat::Delta];
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    let mut runner = PipelineRunner::start(pipeline.clone(), &engine).await.unwrap();
    let (_, value, _) = demo::post(1);
    let records = vec![SourceRecord {
        partition: 0,
        offset: 0,
        timestamp_ms: None,
        key: None,
        value: Some(value.into_bytes()),
        headers: Vec::new(),
        malformed: None,
    }];

    let started = Instant::now();
    runner
        .ingest(PartitionBatch {
            topic: "posts".into(),
            partition: 0,
            records,
        })
        .unwrap();
    runner.flush().await.unwrap();
    let elapsed = started.elapsed();
    println!("one record flat-mapped to 1,000,000 unfit outputs, quarantined in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");

    let tables = Tables::open(&pipeline).await.unwrap();
    let quarantine = tables.quarantine.read(TableFormat::Delta).await.unwrap();
    assert_eq!(rows(&quarantine), 1, "one row for the record, not one per output");
    let reason = quarantine[0]
        .column_by_name("reason")
        .unwrap()
        .as_string::<i32>()
        .value(0);
    assert!(
        reason.contains("(and 999999 more of this record's outputs)"),
        "{reason}"
    );
    assert_eq!(rows(&tables.silver[0].read(TableFormat::Delta).await.unwrap()), 0);
    assert_eq!(rows(&tables.bronze.read(TableFormat::Delta).await.unwrap()), 1);
}

/// Waits until the log holds `needle` `count` times.
fn wait_for_log(log: &Path, needle: &str, count: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "no {count}x `{needle}` after {limit:?}; log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The bytes of a component with a custom section appended: the same plugin, another version.
fn another_version(wasm: &[u8]) -> Vec<u8> {
    let name = b"weir-test-version";
    let payload = b"2";
    let mut out = wasm.to_vec();
    out.push(0); // custom section
    out.push((1 + name.len() + payload.len()) as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(payload);
    out
}

#[test]
fn sigterm_is_answered_within_10_s_while_a_plugin_sleeps_in_a_call_and_a_new_version_in_init() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", 1);
    let brokers = tansu.brokers();
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
    for i in 0..20 {
        let (key, value, _) = demo::post(i * 25 + 1);
        let value = match i {
            10 => value.replacen('{', r#"{"sleep":true,"#, 1),
            _ => value,
        };
        producer
            .send(BaseRecord::to("posts").key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let work = tempfile::tempdir().unwrap();
    // Each call may take 30 s: only an interrupt can end the sleeping one sooner.
    let pipelines = with_hostile_stage(
        &work.path().join("pipelines"),
        "stall.wasm",
        "{ sleep_ms = 600000, sleep_init_ms = 8000 }",
        30_000,
        true,
    );
    let stall = pipelines.join("posts/stall.wasm");
    let lakehouse = work.path().join("lakehouse");
    let log = work.path().join("weir.log");
    let mut host = WeirRun::new(&pipelines, &brokers)
        .lake(&lakehouse, &lakehouse.join("cache"))
        .env("POSTS_GROUP", "hostile")
        .log_to(&log)
        .spawn();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();

    // Started (its `init` slept 8 s) and now asleep in a call on the 11th record.
    wait_for_log(&log, "record: sleeping", 1, Duration::from_secs(180));
    // A new version: its `init` sleeps 8 s, away from the supervisor's loop.
    std::fs::write(&stall, another_version(&std::fs::read(&stall).unwrap())).unwrap();
    wait_for_log(&log, "init: sleeping", 2, Duration::from_secs(30));
    // A later change is heard while that start is still asleep.
    std::fs::write(&stall, b"not a component").unwrap();
    wait_for_log(&log, "plugin reload failed", 1, Duration::from_secs(30));
    // Decided by order, not by time: the failed reload was logged while the second `init` still
    // slept (the first one woke before the pipeline started).
    assert_eq!(
        text().matches("init: awake").count(),
        1,
        "the later change waited for the sleeping start:\n{}",
        text()
    );
    assert!(host.try_wait().unwrap().is_none(), "weir runs: {}", text());

    let _ = Command::new("kill").args(["-TERM", &host.id().to_string()]).status();
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = host.try_wait().unwrap() {
            break status;
        }
        if asked.elapsed() > Duration::from_secs(60) {
            host.kill().unwrap();
            panic!("weir did not stop within 60 s of SIGTERM; log:\n{}", text());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = asked.elapsed();
    println!("SIGTERM answered in {took:?} while a plugin slept");
    assert!(status.success(), "{status}; log:\n{}", text());
    assert!(took < Duration::from_secs(10), "{took:?}; log:\n{}", text());
    assert!(
        text().contains("stopped in the middle of a batch"),
        "the sleeping batch was dropped, not committed: {}",
        text()
    );
    assert!(!text().contains("stopped: the pipeline is shutting down"), "{}", text());
}
