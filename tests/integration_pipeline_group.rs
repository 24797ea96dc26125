//! Two `weir run` processes in one consumer group, against a tansu broker process, split the
//! partitions and together write the same tables one process writes.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use common::services::Tansu;
use weir::cli::demo;
use weir::config;
use weir::decode::SilverDecoder;
use weir::pipeline::Tables;

const RECORDS: usize = 8_000;

fn weir_run(pipelines: &std::path::Path, brokers: &str, lakehouse: &std::path::Path, log: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("run")
        .arg(pipelines)
        .env("KAFKA_BROKERS", brokers)
        .env("WEIR_LAKEHOUSE", lakehouse)
        .env("POSTS_GROUP", "two-hosts")
        .env("WEIR_CACHE_DIR", lakehouse.join("cache"))
        .env("WEIR_LOG", "warn,weir=info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn sigterm(host: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &host.id().to_string()]).status();
    let started = Instant::now();
    while host.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "weir did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_in_one_group_write_what_one_writes() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", 4);
    let brokers = tansu.brokers();
    let work = tempfile::tempdir().unwrap();
    let pipelines = work.path().join("pipelines");
    let lakehouse = work.path().join("lakehouse");
    let posts = pipelines.join("posts");
    std::fs::create_dir_all(&posts).unwrap();
    for entry in std::fs::read_dir(common::repo_root().join("pipelines/posts"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(entry.path(), posts.join(entry.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(posts.join("pipeline.toml")).unwrap();
    std::fs::write(
        posts.join("pipeline.toml"),
        text.replace("max_interval_ms = 5000", "max_interval_ms = 300"),
    )
    .unwrap();

    let log_a = work.path().join("a.log").display().to_string();
    let log_b = work.path().join("b.log").display().to_string();
    let mut a = weir_run(&pipelines, &brokers, &lakehouse, &log_a);
    let mut b = weir_run(&pipelines, &brokers, &lakehouse, &log_b);
    demo::produce_to(&brokers, "posts", 0..RECORDS).unwrap();

    let vars = [
        ("KAFKA_BROKERS".to_string(), brokers.clone()),
        ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
    ]
    .into();
    let pipeline = config::load(&posts.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    let decoder = SilverDecoder::new(&pipeline.tables.silver.columns);
    let expected = demo::dataset(RECORDS);
    let rows = |batches: &[RecordBatch]| batches.iter().map(RecordBatch::num_rows).sum::<usize>();
    let started = Instant::now();
    loop {
        if let Ok(tables) = Tables::open(&pipeline, &decoder).await {
            let bronze = rows(&tables.bronze.read_all().await.unwrap());
            let silver = rows(&tables.silver.read_all().await.unwrap());
            if bronze >= RECORDS && silver >= expected.silver_rows() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "bronze {bronze}, silver {silver} after 120 s"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigterm(&mut a);
    sigterm(&mut b);

    // Both hosts owned partitions.
    for log in [&log_a, &log_b] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(text.contains("partitions assigned"), "{log}: {text}");
    }

    let tables = Tables::open(&pipeline, &decoder).await.unwrap();
    let mut bronze = Vec::new();
    for batch in tables.bronze.read_all().await.unwrap() {
        let p = batch.column_by_name("_partition").unwrap().as_primitive::<Int32Type>();
        let o = batch.column_by_name("_offset").unwrap().as_primitive::<Int64Type>();
        bronze.extend(p.values().iter().copied().zip(o.values().iter().copied()));
    }
    assert_eq!(bronze.len(), RECORDS);
    assert_eq!(
        bronze.iter().collect::<HashSet<_>>().len(),
        RECORDS,
        "each (partition, offset) once"
    );
    assert_eq!(rows(&tables.quarantine.read_all().await.unwrap()), expected.invalid);
    let ids: Vec<String> = tables
        .silver
        .read_all()
        .await
        .unwrap()
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
        .collect();
    assert_eq!(ids.len(), expected.silver_rows());
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "one row per id");
}
