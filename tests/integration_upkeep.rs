//! Table upkeep inside `weir run`, while it keeps committing (issue 21). The example pipeline
//! (bronze, silver, quarantine and gold, Delta and Iceberg) runs against a real broker (tansu)
//! and a real S3 server (SeaweedFS); posts arrive in waves, each committed before the next, so
//! the tables are written in 200 small commits. Then `weir run` starts again with an `[upkeep]`
//! schedule while waves keep coming, and the test waits for what upkeep does:
//!
//! - data files per partition at most a handful, in both formats (read by deltalake and
//!   pyiceberg), with Delta OPTIMIZE commits and Iceberg `replace` snapshots in the history;
//! - every table's rows exactly as produced (check_tables.py: deltalake, pyiceberg, DuckDB), and
//!   its offsets at the end of the topic (Delta `txn`, the Iceberg summary);
//! - time travel to the versions and snapshots recorded before upkeep ran still reads their
//!   rows, with all three readers;
//! - orphans planted beside the tables' files deleted once older than the orphan age, the ones
//!   planted later kept, and no upkeep run failed.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::pipeline::{copy_posts_pipeline, sigterm};
use common::readers;
use common::services::{S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFs, Tansu, free_port};
use common::weir_run::{Host, WeirRun};
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use weir::cli::demo;
use weir::config::{self, S3Config};

/// Posts per wave: one small commit each.
const WAVE: usize = 20;
/// Waves before upkeep runs: the tables' first 200 commits.
const WAVES_BEFORE: usize = 200;
/// Waves committed after upkeep first compacted, while it keeps running.
const WAVES_AFTER_COMPACTION: usize = 5;
/// Unreferenced files planted beside each format's silver files.
const STALE: [&str; 3] = [
    "posts/silver/stale-orphan.parquet",
    "posts/iceberg/silver/data/stale-orphan.parquet",
    "posts/iceberg/silver/metadata/stale-orphan.avro",
];
const FRESH: [&str; 2] = [
    "posts/silver/fresh-orphan.parquet",
    "posts/iceberg/silver/data/fresh-orphan.parquet",
];

struct Setup {
    tansu: Tansu,
    s3: SeaweedFs,
    catalog_db: std::path::PathBuf,
    cache: std::path::PathBuf,
    port: u16,
}

impl Setup {
    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KAFKA_BROKERS", self.tansu.brokers()),
            ("POSTS_GROUP", "upkeep".into()),
            ("WEIR_LAKEHOUSE", "s3://lake".into()),
            ("S3_ENDPOINT", self.s3.endpoint()),
            (
                "ICEBERG_CATALOG_URI",
                format!("sqlite://{}?mode=rwc", self.catalog_db.display()),
            ),
        ]
    }

    fn run(&self, pipelines: &Path) -> Host {
        let child = WeirRun::new(pipelines, &self.tansu.brokers())
            .listen(&format!("127.0.0.1:{}", self.port))
            .envs(self.vars())
            .s3_credentials()
            .env("WEIR_CACHE_DIR", &self.cache)
            .log("warn,weir::upkeep=info,deltalake_core::writer::stats=error")
            .spawn();
        Host(child)
    }

    fn metrics(&self) -> String {
        common::http_get(self.port, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    fn lake(&self) -> Arc<dyn ObjectStore> {
        let s3 = S3Config {
            endpoint: Some(self.s3.endpoint()),
            access_key_id: Some(S3_ACCESS_KEY.into()),
            secret_access_key: Some(S3_SECRET_KEY.into()),
            region: Some("us-east-1".into()),
            allow_http: true,
            path_style: true,
        };
        let url = url::Url::parse("s3://lake/").unwrap();
        weir::tables::storage::object_store_at(&url, &s3).unwrap().0
    }
}

/// The sum of the samples of `name` whose labels contain every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' '])))
        .filter(|l| labels.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits for `what` (checked every 250 ms, at most `limit`), failing with the last metrics.
fn wait_for(setup: &Setup, what: &str, limit: Duration, mut done: impl FnMut(&str) -> bool) {
    let started = Instant::now();
    loop {
        let text = setup.metrics();
        if done(&text) {
            return;
        }
        let upkeep: Vec<&str> = text.lines().filter(|l| l.starts_with("weir_upkeep")).collect();
        assert!(
            started.elapsed() < limit,
            "no {what} within {limit:?}; upkeep metrics:\n{}",
            upkeep.join("\n")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Bronze rows committed (Delta), as `weir run` reports them.
fn committed(text: &str) -> f64 {
    metric(
        text,
        "weir_rows_committed_total",
        &["table=\"bronze\"", "format=\"delta\""],
    )
}

/// Produces waves `waves` of posts, each committed before the next (this run of `weir run`
/// reports the posts of its waves committed), until `stop` is set; returns the posts produced
/// in all (every wave before `waves` included).
fn waves(setup: &Setup, waves: std::ops::Range<usize>, stop: &AtomicBool) -> usize {
    let first = waves.start * WAVE;
    let mut end = first;
    for wave in waves {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let range = wave * WAVE..(wave + 1) * WAVE;
        demo::produce_to(&setup.tansu.brokers(), "posts", range.clone()).unwrap();
        let want = (range.end - first) as f64;
        wait_for(setup, "commit of a wave", Duration::from_secs(60), |t| {
            committed(t) >= want
        });
        end = range.end;
    }
    end
}

/// Waits until `/readyz` says the pipeline consumes.
fn wait_ready(setup: &Setup) {
    let started = Instant::now();
    while common::http_get(setup.port, "/readyz").map(|(status, _)| status) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "weir run not ready within 120 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

async fn put(store: &Arc<dyn ObjectStore>, key: &str) {
    let path = object_store::path::Path::from(key);
    store
        .put(&path, PutPayload::from_static(b"not a table file"))
        .await
        .unwrap();
}

async fn exists(store: &Arc<dyn ObjectStore>, key: &str) -> bool {
    store.head(&object_store::path::Path::from(key)).await.is_ok()
}

/// Each partition's next offset as bronze (which holds every record) says it: one past its
/// highest offset. As app id -> next offset.
async fn next_offsets(pipeline: &weir::config::Pipeline) -> serde_json::Map<String, serde_json::Value> {
    let tables = weir::pipeline::Tables::open(pipeline).await.unwrap();
    let rows = tables.bronze.read(config::TableFormat::Delta).await.unwrap();
    let mut by_partition: std::collections::BTreeMap<i32, Vec<i64>> = Default::default();
    for (partition, offset) in common::pipeline::origins(&rows) {
        by_partition.entry(partition).or_default().push(offset);
    }
    by_partition
        .into_iter()
        .map(|(partition, offsets)| {
            let next = offsets.iter().max().map_or(0, |o| o + 1);
            (weir::tables::commit::app_id("posts", "posts", partition), next.into())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upkeep_inside_weir_run_compacts_keeps_time_travel_and_deletes_orphans_while_it_commits() {
    let work = tempfile::tempdir().unwrap();
    let setup = Setup {
        tansu: Tansu::start(),
        s3: SeaweedFs::start("lake"),
        catalog_db: work.path().join("catalog.db"),
        cache: work.path().join("cache"),
        port: free_port(),
    };
    setup.tansu.create_topic("posts", 2);
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        &[("max_interval_ms = 5000", "max_interval_ms = 50")],
    );
    let lake = setup.lake();
    let never = AtomicBool::new(false);

    // 200 small commits, no upkeep yet; the stale orphans are planted first, so they are the
    // oldest files of the lake.
    let mut host = setup.run(&pipelines);
    wait_ready(&setup);
    for key in STALE {
        put(&lake, key).await;
    }
    let planted = Instant::now();
    assert_eq!(waves(&setup, 0..WAVES_BEFORE, &never), WAVES_BEFORE * WAVE);
    sigterm(&mut host.0);

    // What time travel must still read after upkeep.
    let before = WAVES_BEFORE * WAVE;
    let spec_before = readers::spec(&setup.s3, &setup.catalog_db, serde_json::json!({}));
    let spec_file = work.path().join("spec-before.json");
    std::fs::write(&spec_file, serde_json::Value::Object(spec_before).to_string()).unwrap();
    let recorded = work.path().join("recorded.json");
    let out = readers::run("check_upkeep.py", &[Path::new("record"), &spec_file, &recorded]);
    println!("before upkeep: {out}");
    let versions: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&recorded).unwrap()).unwrap();
    let silver_version = versions["delta"]["silver"]["version"].as_u64().unwrap();
    assert!(
        silver_version >= 200,
        "silver was written in {silver_version} Delta commits"
    );

    // Upkeep every 2 s, inside `weir run`, while waves keep coming.
    let file = pipelines.join("posts/pipeline.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\n[upkeep]\nevery = \"2s\"\norphan_age = \"1m\"\n");
    std::fs::write(&file, text).unwrap();
    let mut host = setup.run(&pipelines);
    wait_ready(&setup);
    let stop = AtomicBool::new(false);
    let total = std::thread::scope(|scope| {
        let producer = scope.spawn(|| waves(&setup, WAVES_BEFORE..usize::MAX / WAVE, &stop));
        let rewritten = |t: &str, format: &str| {
            metric(
                t,
                "weir_upkeep_files_rewritten_total",
                &["table=\"silver\"", &format!("format=\"{format}\"")],
            )
        };
        wait_for(
            &setup,
            "compaction of silver in both formats",
            Duration::from_secs(300),
            |t| rewritten(t, "delta") > 0.0 && rewritten(t, "iceberg") > 0.0,
        );
        // `weir run` keeps committing after (and while) upkeep commits.
        let at = committed(&setup.metrics());
        let more = (WAVES_AFTER_COMPACTION * WAVE) as f64;
        wait_for(&setup, "commits after a compaction", Duration::from_secs(120), |t| {
            committed(t) >= at + more
        });
        stop.store(true, Ordering::Relaxed);
        producer.join().unwrap()
    });
    assert!(total > before + WAVES_AFTER_COMPACTION * WAVE);

    // Fresh orphans, then two full runs after the last commit; then the stale ones must go.
    for key in FRESH {
        put(&lake, key).await;
    }
    let runs = |t: &str| metric(t, "weir_upkeep_runs_total", &["result=\"ok\""]);
    let after_last = runs(&setup.metrics());
    wait_for(
        &setup,
        "two upkeep runs after the last commit",
        Duration::from_secs(300),
        |t| runs(t) >= after_last + 2.0,
    );
    let started = Instant::now();
    loop {
        let mut left = Vec::new();
        for key in STALE {
            if exists(&lake, key).await {
                left.push(key);
            }
        }
        if left.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{left:?} still there {:?} after they were planted",
            planted.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for key in FRESH {
        assert!(exists(&lake, key).await, "{key} was deleted before it was a minute old");
    }
    let text = setup.metrics();
    assert_eq!(
        metric(&text, "weir_upkeep_runs_total", &["result=\"failed\""]),
        0.0,
        "{text}"
    );
    assert!(metric(&text, "weir_upkeep_orphans_deleted_total", &[]) >= STALE.len() as f64);
    assert!(
        metric(
            &text,
            "weir_upkeep_last_success_timestamp_seconds",
            &["table=\"bronze\""]
        ) > 0.0
    );
    sigterm(&mut host.0);

    // Rows exactly as produced, with all three readers.
    let produced = demo::dataset(total);
    let vars: std::collections::HashMap<String, String> =
        setup.vars().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let mut pipeline = config::load(&pipelines.join("posts/pipeline.toml"), &config::from_map(&vars)).unwrap();
    pipeline.tables.s3.access_key_id = Some(S3_ACCESS_KEY.into());
    pipeline.tables.s3.secret_access_key = Some(S3_SECRET_KEY.into());
    pipeline.tables.s3.region = Some("us-east-1".into());
    let expected = serde_json::json!({
        "bronze": total,
        "quarantine": produced.invalid,
        "silver": readers::expected_silver(total, None),
        "gold": readers::gold_as_written(&pipeline).await,
    });
    let mut spec = readers::spec(&setup.s3, &setup.catalog_db, expected);
    let stdout = {
        let file = work.path().join("spec.json");
        std::fs::write(&file, serde_json::Value::Object(spec.clone()).to_string()).unwrap();
        readers::run("check_tables.py", &[&file])
    };
    assert!(stdout.contains("all readers agree"), "{stdout}");

    // Files per partition, upkeep's commits, offsets, time travel.
    spec.insert("max_files_per_partition".into(), 5.into());
    let offsets = next_offsets(&pipeline).await;
    assert_eq!(offsets.len(), 2);
    spec.insert("offsets".into(), offsets.into());
    let file = work.path().join("spec-after.json");
    std::fs::write(&file, serde_json::Value::Object(spec).to_string()).unwrap();
    let stdout = readers::run("check_upkeep.py", &[Path::new("check"), &file, &recorded]);
    println!("{stdout}");
    assert!(stdout.contains("upkeep left every table as it should"), "{stdout}");
}

/// `weir maintain` runs a pipeline's upkeep only with its upkeep lease: while another host
/// holds it (its scheduled upkeep is running), the pipeline is skipped and nothing changes.
#[tokio::test]
async fn weir_maintain_skips_a_pipeline_whose_upkeep_lease_another_host_holds() {
    let work = tempfile::tempdir().unwrap();
    let pipelines = copy_posts_pipeline(&work.path().join("pipelines"), &[]);
    let lake = work.path().join("lake");
    let maintain = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("maintain")
            .args(args)
            .arg(&pipelines)
            .env("WEIR_LAKEHOUSE", &lake)
            .env("WEIR_LOG", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let location = lake.join("posts").display().to_string();
    let lease = weir::pipeline::WriterLease::acquire_as(
        weir::pipeline::LeaseRole::Upkeep,
        &location,
        &S3Config::default(),
        "other-host",
    )
    .await
    .unwrap();
    let skipped = maintain(&[]);
    assert_eq!(skipped.trim(), "posts: skipped, its upkeep runs on other-host");
    // A dry run changes nothing, so it needs no lease.
    let planned = maintain(&["--dry-run"]);
    assert!(
        planned.lines().count() == 8 && planned.lines().all(|l| l.contains(": would: ")),
        "{planned}"
    );
    lease.release().await;
    let done = maintain(&[]);
    assert!(
        done.lines().count() == 8 && done.lines().all(|l| l.contains(": did: ")),
        "{done}"
    );
}
