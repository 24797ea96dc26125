//! Two `weir run` processes in one consumer group, against a tansu broker process, split the
//! partitions and together write the same tables one process writes.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::process::Child;
use std::time::Duration;

use common::pipeline::{copy_posts_pipeline, origins, rows, sigterm, silver_ids, strip_gold, unique, wait_for_rows};
use common::services::Tansu;
use common::weir_run::WeirRun;
use weir::cli::demo;
use weir::config;
use weir::pipeline::Tables;

const RECORDS: usize = 8_000;

fn weir_run(pipelines: &std::path::Path, brokers: &str, lakehouse: &std::path::Path, log: &str) -> Child {
    WeirRun::new(pipelines, brokers)
        .listen("127.0.0.1:0")
        .lake(lakehouse, &lakehouse.join("cache"))
        .env("POSTS_GROUP", "two-hosts")
        .log("warn,weir=info")
        .log_to(std::path::Path::new(log))
        .spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_in_one_group_write_what_one_writes() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", 4);
    let brokers = tansu.brokers();
    let work = tempfile::tempdir().unwrap();
    let lakehouse = work.path().join("lakehouse");
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        &[("max_interval_ms = 5000", "max_interval_ms = 300")],
    );
    strip_gold(&pipelines);
    let posts = pipelines.join("posts");

    let log_a = work.path().join("a.log").display().to_string();
    let log_b = work.path().join("b.log").display().to_string();
    let mut a = weir_run(&pipelines, &brokers, &lakehouse, &log_a);
    let mut b = weir_run(&pipelines, &brokers, &lakehouse, &log_b);
    // Produce once both are members: else the first one can finish before the second joins.
    let started = std::time::Instant::now();
    while ![&log_a, &log_b]
        .iter()
        .all(|log| std::fs::read_to_string(log).is_ok_and(|t| t.contains("partitions assigned")))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the hosts did not both join:\n{}\n{}",
            std::fs::read_to_string(&log_a).unwrap_or_default(),
            std::fs::read_to_string(&log_b).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    demo::produce_to(&brokers, "posts", 0..RECORDS).unwrap();

    let vars = [
        ("KAFKA_BROKERS".to_string(), brokers.clone()),
        ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
    ]
    .into();
    let pipeline = config::load(&posts.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    let expected = demo::dataset(RECORDS);
    wait_for_rows(&pipeline, RECORDS, expected.silver_rows()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigterm(&mut a);
    sigterm(&mut b);

    // Both hosts owned partitions.
    for log in [&log_a, &log_b] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(text.contains("partitions assigned"), "{log}: {text}");
    }

    let tables = Tables::open(&pipeline).await.unwrap();
    let bronze = origins(&tables.bronze.read_all().await.unwrap());
    assert_eq!(bronze.len(), RECORDS);
    assert_eq!(unique(&bronze), RECORDS, "each (partition, offset) once");
    assert_eq!(rows(&tables.quarantine.read_all().await.unwrap()), expected.invalid);
    let ids = silver_ids(&tables.silver[0].read_all().await.unwrap());
    assert_eq!(ids.len(), expected.silver_rows());
    assert_eq!(unique(&ids), ids.len(), "one row per id");
}

/// The log of `path`, without terminal colours.
fn log_text(path: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn wait_for_log(path: &str, needle: &str) {
    let started = std::time::Instant::now();
    while !log_text(path).contains(needle) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{path}: no `{needle}` after 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_losing_partitions_drops_its_uncommitted_rows_and_nothing_is_duplicated() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", 4);
    let brokers = tansu.brokers();
    let work = tempfile::tempdir().unwrap();
    let lakehouse = work.path().join("lakehouse");
    // Commits every 15 s: the first host still holds every row when the second one joins.
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        &[("max_interval_ms = 5000", "max_interval_ms = 15000")],
    );
    strip_gold(&pipelines);
    let posts = pipelines.join("posts");
    let log_a = work.path().join("a.log").display().to_string();
    let log_b = work.path().join("b.log").display().to_string();

    let mut a = weir_run(&pipelines, &brokers, &lakehouse, &log_a);
    demo::produce_to(&brokers, "posts", 0..RECORDS).unwrap();
    wait_for_log(&log_a, "partitions assigned");
    std::thread::sleep(Duration::from_millis(1_000));
    let mut b = weir_run(&pipelines, &brokers, &lakehouse, &log_b);
    wait_for_log(&log_b, "partitions assigned");

    let vars = [
        ("KAFKA_BROKERS".to_string(), brokers.clone()),
        ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
    ]
    .into();
    let pipeline = config::load(&posts.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    let expected = demo::dataset(RECORDS);
    wait_for_rows(&pipeline, RECORDS, expected.silver_rows()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigterm(&mut a);
    sigterm(&mut b);

    let first = log_text(&log_a);
    let dropped_some = first
        .lines()
        .filter(|l| l.contains("dropped uncommitted rows of revoked partitions"))
        .any(|l| {
            l.split("dropped=")
                .nth(1)
                .is_some_and(|n| n.trim().split(' ').next() != Some("0"))
        });
    assert!(
        dropped_some,
        "the first host dropped no rows when it lost partitions:\n{first}"
    );

    let tables = Tables::open(&pipeline).await.unwrap();
    let bronze = origins(&tables.bronze.read_all().await.unwrap());
    assert_eq!(bronze.len(), RECORDS);
    assert_eq!(unique(&bronze), RECORDS, "each (partition, offset) once");
    assert_eq!(rows(&tables.quarantine.read_all().await.unwrap()), expected.invalid);
    let ids = silver_ids(&tables.silver[0].read_all().await.unwrap());
    assert_eq!(ids.len(), expected.silver_rows());
    assert_eq!(unique(&ids), ids.len(), "one row per id");
}
