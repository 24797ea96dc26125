//! Outages against real services: tansu (Kafka protocol) and SeaweedFS (S3), both separate
//! processes, with `weir run` (the posts pipeline, gold on, Delta and Iceberg on S3) as a
//! process. The S3 server is stopped for 30 s while records arrive, then the broker is frozen
//! for 30 s. The host never exits, `/readyz` reports the S3 outage while it lasts, and at the end
//! every table is exact.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::http_get;
use common::pipeline::{
    assert_gold_matches_silver, copy_posts_pipeline, origins, sigterm, silver_ids, tables_reached, unique,
};
use common::services::{S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFs, Tansu, free_port};
use common::weir_run::WeirRun;
use weir::cli::demo;
use weir::config::{self, Pipeline, TableFormat};
use weir::pipeline::{LeaseError, Tables, WriterLease};

const PARTITIONS: i32 = 4;
const OUTAGE: Duration = Duration::from_secs(30);

struct Setup {
    tansu: Tansu,
    s3: SeaweedFs,
    work: tempfile::TempDir,
    pipeline: Pipeline,
    port: u16,
}

/// The Iceberg tables' SQLite catalog under `work` (the tables themselves are on S3).
fn catalog_uri(work: &Path) -> String {
    let dir = work.join("catalog");
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}/catalog.db?mode=rwc", dir.display())
}

impl Setup {
    fn log(&self) -> std::path::PathBuf {
        self.work.path().join("weir.log")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn weir_run(&self, pipelines: &Path) -> Child {
        WeirRun::new(pipelines, &self.tansu.brokers())
            .listen(&format!("127.0.0.1:{}", self.port))
            .env("POSTS_GROUP", "faults")
            .s3(&self.s3, &catalog_uri(self.work.path()))
            .env("WEIR_CACHE_DIR", self.work.path().join("cache"))
            .log_to(&self.log())
            .spawn()
    }

    fn assert_alive(&self, host: &mut Child, when: &str) {
        if let Some(status) = host.try_wait().unwrap() {
            panic!("weir exited ({status}) {when}; log:\n{}", self.log_tail());
        }
    }

    /// Waits (at most `limit`) until every table holds `total` records, checking that the host
    /// stays alive.
    async fn wait_for_tables(&self, host: &mut Child, total: usize, limit: Duration) {
        let started = Instant::now();
        loop {
            self.assert_alive(host, "while catching up");
            if let Ok(mut tables) = Tables::open(&self.pipeline).await
                && tables_reached(&mut tables, "posts", PARTITIONS, total as i64).await
            {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "the tables do not hold {total} records after {limit:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_outage_and_a_frozen_broker_are_waited_out_and_the_tables_end_exact() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", PARTITIONS as u32);
    let s3 = SeaweedFs::start("lake");
    let work = tempfile::tempdir().unwrap();
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        &[
            ("max_interval_ms = 5000", "max_interval_ms = 300"),
            (
                "\"auto.offset.reset\" = \"earliest\"",
                "\"auto.offset.reset\" = \"earliest\"\n\"socket.timeout.ms\" = \"5000\"",
            ),
        ],
    );
    let vars = [
        ("KAFKA_BROKERS".to_string(), tansu.brokers()),
        ("WEIR_LAKEHOUSE".to_string(), "s3://lake".to_string()),
        ("S3_ENDPOINT".to_string(), s3.endpoint()),
        ("ICEBERG_CATALOG_URI".to_string(), catalog_uri(work.path())),
    ]
    .into();
    let mut pipeline = config::load(&pipelines.join("posts/pipeline.toml"), &config::from_map(&vars)).unwrap();
    pipeline.tables.s3.access_key_id = Some(S3_ACCESS_KEY.into());
    pipeline.tables.s3.secret_access_key = Some(S3_SECRET_KEY.into());
    pipeline.tables.s3.region = Some("us-east-1".into());
    let mut setup = Setup {
        tansu,
        s3,
        work,
        pipeline,
        port: free_port(),
    };

    let brokers = setup.tansu.brokers();
    demo::produce_to(&brokers, "posts", 0..3_000).unwrap();
    let mut host = setup.weir_run(&pipelines);
    setup.wait_for_tables(&mut host, 3_000, Duration::from_secs(300)).await;

    // S3 goes away while records arrive: the pipeline fails, waits and restarts; /readyz says so.
    setup.s3.stop();
    let stopped = Instant::now();
    demo::produce_to(&brokers, "posts", 3_000..6_000).unwrap();
    let mut reported = None;
    while stopped.elapsed() < OUTAGE {
        setup.assert_alive(&mut host, "during the S3 outage");
        if let Some((503, body)) = http_get(setup.port, "/readyz")
            && body.contains("restarting from its tables")
        {
            reported.get_or_insert(body);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let reported = reported.unwrap_or_else(|| panic!("/readyz never reported the outage; log:\n{}", setup.log_tail()));
    println!("/readyz during the S3 outage: {reported}");
    setup.s3.start_again();
    setup.wait_for_tables(&mut host, 6_000, Duration::from_secs(300)).await;

    // The broker freezes with records still to read.
    demo::produce_to(&brokers, "posts", 6_000..9_000).unwrap();
    setup.tansu.pause();
    let paused = Instant::now();
    while paused.elapsed() < OUTAGE {
        setup.assert_alive(&mut host, "while the broker is frozen");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    setup.tansu.resume();
    setup.wait_for_tables(&mut host, 9_000, Duration::from_secs(300)).await;

    // The gold writer lease on S3: held by the running host, so a second one stands by...
    let location = setup.pipeline.tables.location.clone();
    let s3 = setup.pipeline.tables.s3.clone();
    let held = WriterLease::acquire(&location, &s3, "intruder").await.unwrap_err();
    assert!(matches!(held, LeaseError::Held { .. }), "{held}");
    sigterm(&mut host);
    assert!(
        host.wait().unwrap().success(),
        "a clean stop; log:\n{}",
        setup.log_tail()
    );
    // ...until a clean stop releases it.
    let taken = WriterLease::acquire(&location, &s3, "intruder").await.unwrap();
    taken.release().await;
    let log = std::fs::read_to_string(setup.log()).unwrap();
    println!(
        "restarts: {}",
        log.matches("pipeline restarted from its tables").count()
    );

    let expected = demo::dataset(9_000);
    let tables = Tables::open(&setup.pipeline).await.unwrap();
    for format in [TableFormat::Delta, TableFormat::Iceberg] {
        let bronze = origins(&tables.bronze.read(format).await.unwrap());
        assert_eq!(bronze.len(), 9_000, "{format:?} bronze: every record");
        assert_eq!(unique(&bronze), 9_000, "{format:?} bronze: once each");
        let quarantine = origins(&tables.quarantine.read(format).await.unwrap());
        assert_eq!(quarantine.len(), expected.invalid, "{format:?} quarantine");
        assert_eq!(
            unique(&quarantine),
            expected.invalid,
            "{format:?} quarantine: once each"
        );
        let ids = silver_ids(&tables.silver[0].read(format).await.unwrap());
        assert_eq!(ids.len(), expected.silver_rows(), "{format:?} silver");
        assert_eq!(unique(&ids), ids.len(), "{format:?} silver: one row per id");
        assert_gold_matches_silver(&tables, format).await;
    }
}
