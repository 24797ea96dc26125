//! The pipeline end to end on librdkafka's in-process Kafka-protocol broker: the tables hold
//! exactly what was produced after a run that crashed mid-way (its uncommitted work lost) and a
//! restart. (Crash tests with SIGKILL against a separate broker process come with the test
//! services; see scripts/test.sh.)
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use common::pipeline::{origins, silver_ids, unique};
use rdkafka::mocking::MockCluster;
use weir::cli::demo;
use weir::config::{self, Pipeline};
use weir::pipeline::{PipelineRunner, RunStats, Tables};
use weir::plugin::PluginEngine;

fn pipeline(brokers: &str, lakehouse: &std::path::Path) -> Pipeline {
    let vars: HashMap<String, String> = [
        ("KAFKA_BROKERS", brokers.to_string()),
        ("WEIR_LAKEHOUSE", lakehouse.display().to_string()),
        ("POSTS_GROUP", "exactly-once".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let file = common::repo_root().join("pipelines/posts/pipeline.toml");
    let mut pipeline = config::load(&file, &config::from_map(&vars)).unwrap();
    pipeline.commit.max_records = 400;
    pipeline.commit.max_interval_ms = 200;
    pipeline
        .source
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    pipeline
}

/// Steps until nothing new arrived for `quiet`.
async fn run_until_quiet(runner: &mut PipelineRunner, quiet: Duration) -> RunStats {
    let mut last = runner.stats();
    let mut since = Instant::now();
    let started = Instant::now();
    loop {
        runner.step().await.unwrap();
        let now = runner.stats();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() > quiet {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no quiet after 90 s: {now:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_and_a_restart_leave_exactly_the_produced_records() {
    let n = 3_000;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("posts", 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    demo::produce(&brokers, n).unwrap();
    let expected = demo::dataset(n);
    let lakehouse = tempfile::tempdir().unwrap();
    let pipeline = pipeline(&brokers, lakehouse.path());
    let engine = PluginEngine::new(lakehouse.path().join("cache")).unwrap();

    // First run: commits a few times, then "crashes": dropped with work still buffered.
    let mut first = PipelineRunner::start(pipeline.clone(), &engine).await.unwrap();
    let started = Instant::now();
    while first.stats().commits < 2 || first.uncommitted() == 0 {
        first.step().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(60), "{:?}", first.stats());
    }
    let crashed = first.stats();
    drop(first);

    // Restart: resumes where the tables stand and finishes. (The mock broker makes a rejoining
    // member wait for the session timeout before it gets partitions.)
    let committed: usize = {
        let tables = Tables::open(&pipeline).await.unwrap();
        tables
            .bronze
            .read_all()
            .await
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum()
    };
    assert!(
        committed < crashed.records_in as usize,
        "the crash lost buffered work: {committed} {crashed:?}"
    );
    let mut second = PipelineRunner::start(pipeline.clone(), &engine).await.unwrap();
    let started = Instant::now();
    while (second.stats().records_in as usize) < n - committed {
        second.step().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(60), "{:?}", second.stats());
    }
    run_until_quiet(&mut second, Duration::from_secs(1)).await;
    let finished = second.run_until(|_| true).await.unwrap();
    assert!(
        crashed.records_in + finished.records_in >= n as u64,
        "{crashed:?} {finished:?}"
    );

    let tables = Tables::open(&pipeline).await.unwrap();
    let bronze = origins(&tables.bronze.read_all().await.unwrap());
    let silver_batches = tables.silver[0].read_all().await.unwrap();
    let quarantine = origins(&tables.quarantine.read_all().await.unwrap());

    assert_eq!(bronze.len(), n, "bronze holds every record");
    assert_eq!(unique(&bronze), n, "each (partition, offset) once in bronze");
    assert_eq!(
        quarantine.len(),
        expected.invalid,
        "each invalid record once in quarantine"
    );
    assert_eq!(unique(&quarantine), expected.invalid);
    let ids = silver_ids(&silver_batches);
    assert_eq!(
        ids.len(),
        expected.silver_rows(),
        "silver holds the valid records, one per id"
    );
    assert_eq!(unique(&ids), ids.len(), "each id once in silver");
}
