//! The pipeline against a real broker (tansu) and a real S3 server (SeaweedFS), both separate
//! processes: N records on a 4-partition topic, a known subset invalid and a known subset
//! repeating a key. Bronze holds all N, silver exactly the valid ones once per key, quarantine
//! exactly the invalid ones with their stage and reason. A restart in another consumer group
//! resumes from the tables' offsets on S3 and adds only the new records.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use arrow::array::AsArray;
use common::pipeline::{copy_posts_pipeline, origins, rows, sigterm, silver_ids, unique, wait_for_rows};
use common::services::{S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFs, Tansu};
use common::weir_run::WeirRun;
use weir::cli::demo;
use weir::config;
use weir::pipeline::Tables;

/// The Iceberg tables' SQLite catalog (the tables themselves are on S3).
fn catalog_uri(cache: &Path) -> String {
    std::fs::create_dir_all(cache).unwrap();
    format!("sqlite://{}/catalog.db?mode=rwc", cache.display())
}

fn weir_run(pipelines: &Path, tansu: &Tansu, s3: &SeaweedFs, group: &str, cache: &Path) -> Child {
    WeirRun::new(pipelines, &tansu.brokers())
        .listen("127.0.0.1:0")
        .env("POSTS_GROUP", group)
        .s3(s3, &catalog_uri(cache))
        .env("WEIR_CACHE_DIR", cache)
        .log("warn")
        .stderr(Stdio::null())
        .spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medallion_tables_on_s3_hold_exactly_the_expected_rows() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", 4);
    let s3 = SeaweedFs::start("lake");
    let work = tempfile::tempdir().unwrap();
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        &[("max_interval_ms = 5000", "max_interval_ms = 300")],
    );
    let posts = pipelines.join("posts");
    let vars = [
        ("KAFKA_BROKERS".to_string(), tansu.brokers()),
        ("WEIR_LAKEHOUSE".to_string(), "s3://lake".to_string()),
        ("S3_ENDPOINT".to_string(), s3.endpoint()),
        (
            "ICEBERG_CATALOG_URI".to_string(),
            catalog_uri(&work.path().join("cache")),
        ),
    ]
    .into();
    let mut pipeline = config::load(&posts.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    pipeline.tables.s3.access_key_id = Some(S3_ACCESS_KEY.into());
    pipeline.tables.s3.secret_access_key = Some(S3_SECRET_KEY.into());
    pipeline.tables.s3.region = Some("us-east-1".into());

    let n = 4_000;
    demo::produce_to(&tansu.brokers(), "posts", 0..n).unwrap();
    let expected = demo::dataset(n);
    let mut host = weir_run(&pipelines, &tansu, &s3, "s3-first", &work.path().join("cache"));
    wait_for_rows(&pipeline, n, expected.silver_rows()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    sigterm(&mut host);

    let tables = Tables::open(&pipeline).await.unwrap();
    let bronze = tables.bronze.read_all().await.unwrap();
    let quarantine = tables.quarantine.read_all().await.unwrap();
    let silver = tables.silver[0].read_all().await.unwrap();
    assert_eq!(rows(&bronze), n, "bronze holds all N");
    let origins = origins(&bronze);
    assert_eq!(unique(&origins), n, "each (partition, offset) once");
    assert_eq!(
        origins.iter().map(|(p, _)| *p).collect::<HashSet<_>>().len(),
        4,
        "all four partitions"
    );
    assert_eq!(
        rows(&quarantine),
        expected.invalid,
        "quarantine holds exactly the invalid ones"
    );
    for batch in &quarantine {
        let stages = batch.column_by_name("stage").unwrap().as_string::<i32>();
        let reasons = batch.column_by_name("reason").unwrap().as_string::<i32>();
        for (stage, reason) in stages.iter().zip(reasons.iter()) {
            assert!(matches!(stage, Some("normalize" | "validate")), "{stage:?}");
            assert!(!reason.unwrap().is_empty());
        }
    }
    let ids = silver_ids(&silver);
    assert_eq!(ids.len(), expected.silver_rows(), "silver holds the valid ones");
    assert_eq!(unique(&ids), ids.len(), "one per key");

    // Another group, same tables: resumes from the offsets committed in the tables on S3.
    demo::produce_to(&tansu.brokers(), "posts", n..n + 1_000).unwrap();
    let more = demo::dataset(n + 1_000);
    let mut host = weir_run(&pipelines, &tansu, &s3, "s3-second", &work.path().join("cache"));
    wait_for_rows(&pipeline, n + 1_000, more.silver_rows()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    sigterm(&mut host);
    let tables = Tables::open(&pipeline).await.unwrap();
    assert_eq!(rows(&tables.bronze.read_all().await.unwrap()), n + 1_000);
    assert_eq!(rows(&tables.quarantine.read_all().await.unwrap()), more.invalid);
    assert_eq!(rows(&tables.silver[0].read_all().await.unwrap()), more.silver_rows());
}
