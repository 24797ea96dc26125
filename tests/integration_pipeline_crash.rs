//! Crash test against a real Kafka-protocol broker (tansu, a separate process): 100,000 posts,
//! produced in chunks while `weir run` (the posts pipeline, gold on, Delta and Iceberg) is
//! killed with SIGKILL sixteen times and restarted. Every kill comes after the test saw a new
//! commit of that run: half at once (mid-way through the round of table commits, so some tables
//! committed and others not), half after a random delay. A last run is stopped once every
//! table's offsets reached the end of the topic. Then every table is exact: each record once in
//! bronze, each invalid one once in quarantine, each key once in silver, gold equal to a
//! reference computed from silver, and no table's log ever recorded an offset going down.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::Lcg;
use common::pipeline::{
    assert_gold_matches_silver, assert_offsets_monotonic, copy_posts_pipeline, delta_versions, origins, sigterm,
    silver_ids, tables_reached, unique, wait_for_delta_commit,
};
use common::services::Tansu;
use common::weir_run::WeirRun;
use weir::cli::demo;
use weir::config::{self, TableFormat};
use weir::pipeline::Tables;

const RECORDS: usize = 100_000;
const PARTITIONS: i32 = 4;
const KILLS: usize = 16;
const CHUNKS: usize = 20;

/// pipelines/posts with commits every 300 ms and a short session timeout.
fn test_pipelines(dir: &Path) {
    let reset = "\"auto.offset.reset\" = \"earliest\"";
    let with_timeout = "\"auto.offset.reset\" = \"earliest\"\n\"session.timeout.ms\" = \"3000\"";
    copy_posts_pipeline(
        dir,
        &[
            ("max_interval_ms = 5000", "max_interval_ms = 300"),
            (reset, with_timeout),
        ],
    );
}

fn weir_run(pipelines: &Path, brokers: &str, lakehouse: &Path, log: &Path) -> Child {
    WeirRun::new(pipelines, brokers)
        .lake(lakehouse, &lakehouse.join("cache"))
        .env("POSTS_GROUP", "crash-test")
        // Static membership (`[source] instance_id`) when the caller sets one.
        .env(
            "WEIR_INSTANCE_ID",
            std::env::var("CRASH_TEST_INSTANCE_ID").unwrap_or_default(),
        )
        .log_to(log)
        .spawn()
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn chunk(i: usize) -> std::ops::Range<usize> {
    let size = RECORDS / CHUNKS;
    i * size..(i + 1) * size
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_sigkills_after_observed_commits_leave_every_table_exact() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", PARTITIONS as u32);
    let brokers = tansu.brokers();
    let work = tempfile::tempdir().unwrap();
    let pipelines = work.path().join("pipelines");
    let lakehouse = work.path().join("lakehouse");
    let tables_dir = lakehouse.join("posts");
    test_pipelines(&pipelines);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash schedule seed: {seed}");
    let mut rng = Lcg(seed);

    // Each run gets a new chunk of posts first, so it always has something to commit.
    let mut produced = 0;
    let mut recoveries = Vec::new();
    for kill in 0..KILLS {
        demo::produce_to(&brokers, "posts", chunk(produced)).unwrap();
        produced += 1;
        let log = work.path().join(format!("run-{kill}.log"));
        let before = delta_versions(&tables_dir, "bronze");
        let mut host = weir_run(&pipelines, &brokers, &lakehouse, &log);
        let spawned = Instant::now();
        let committed = tokio::task::block_in_place(|| {
            wait_for_delta_commit(&tables_dir, "bronze", before, Duration::from_secs(300))
        });
        let recovery = spawned.elapsed();
        if !committed {
            host.kill().unwrap();
            panic!("run {kill}: no bronze commit within 300 s; its log:\n{}", tail(&log));
        }
        // Half the kills land right after a bronze commit (while the other tables commit), the
        // others up to 1.5 s later.
        let delay = if kill % 2 == 0 { 0 } else { rng.below(1_500) };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        host.kill().unwrap(); // SIGKILL
        host.wait().unwrap();
        println!(
            "kill {kill}: first commit {} ms after start, killed {delay} ms after it; bronze at Delta version {}",
            recovery.as_millis(),
            delta_versions(&tables_dir, "bronze")
        );
        if kill > 0 {
            recoveries.push(recovery); // the first run also compiles the plugins
        }
    }
    recoveries.sort();
    println!(
        "start to first commit after a SIGKILL ({} restarts): median {} ms, max {} ms",
        recoveries.len(),
        recoveries[recoveries.len() / 2].as_millis(),
        recoveries[recoveries.len() - 1].as_millis()
    );
    while produced < CHUNKS {
        demo::produce_to(&brokers, "posts", chunk(produced)).unwrap();
        produced += 1;
    }

    // A last run finishes the work; stop it once every table holds the whole topic.
    let config = {
        let vars = [
            ("KAFKA_BROKERS".to_string(), brokers.clone()),
            ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
        ]
        .into();
        config::load(&pipelines.join("posts/pipeline.toml"), &config::from_map(&vars)).unwrap()
    };
    let log = work.path().join("final.log");
    let mut host = weir_run(&pipelines, &brokers, &lakehouse, &log);
    let started = Instant::now();
    loop {
        let mut tables = Tables::open(&config).await.unwrap();
        if tables_reached(&mut tables, "posts", PARTITIONS, RECORDS as i64).await {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            host.kill().unwrap();
            panic!(
                "the tables did not reach the end of the topic within 600 s; log:\n{}",
                tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sigterm(&mut host);

    let expected = demo::dataset(RECORDS);
    let tables = Tables::open(&config).await.unwrap();
    assert_eq!(config.tables.format, [TableFormat::Delta, TableFormat::Iceberg]);
    for format in [TableFormat::Delta, TableFormat::Iceberg] {
        let bronze = origins(&tables.bronze.read(format).await.unwrap());
        assert_eq!(unique(&bronze), RECORDS, "{format:?} bronze: every record");
        assert_eq!(
            bronze.len(),
            RECORDS,
            "{format:?} bronze: each (partition, offset) once"
        );
        let quarantine = origins(&tables.quarantine.read(format).await.unwrap());
        assert_eq!(
            unique(&quarantine),
            expected.invalid,
            "{format:?} quarantine: each invalid record"
        );
        assert_eq!(quarantine.len(), expected.invalid, "{format:?} quarantine: once each");
        let silver = tables.silver[0].read(format).await.unwrap();
        let ids = silver_ids(&silver);
        assert_eq!(
            unique(&ids),
            expected.silver_rows(),
            "{format:?} silver: the valid records"
        );
        assert_eq!(ids.len(), unique(&ids), "{format:?} silver: one row per id");
        let gold = assert_gold_matches_silver(&tables, format).await;
        println!("{format:?}: gold holds {gold} rows, equal to the reference");
    }
    let mut dirs: Vec<PathBuf> = ["bronze", "quarantine", "silver", "gold_avg_score_daily"]
        .iter()
        .map(|t| tables_dir.join(t))
        .collect();
    dirs.extend(
        dirs.clone()
            .iter()
            .map(|d| tables_dir.join("iceberg").join(d.file_name().unwrap())),
    );
    for dir in dirs {
        let entries = assert_offsets_monotonic(&dir);
        println!(
            "{}: {entries} logged offsets, none lower than the one before",
            dir.display()
        );
    }
}
